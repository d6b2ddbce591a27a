"""Importing Backstage catalog files (`catalog-info.yaml`).

The import reads files as people write them for Backstage: several `---` documents, the kinds
fullcycle models (Component, System, Group, User, API), the conventional annotations and links.
Other kinds are skipped and references to entities that are not in the catalog are kept and
reported, neither fails. Everything is validated before anything is written, and every problem
names its document, entity, field and line. The mapping is in docs/catalog.md;
backstage_export.py writes the catalog back in the same form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fullcycle.auth.models import User
from fullcycle.auth.users import create_user
from fullcycle.catalog.refs import valid_name
from fullcycle.catalog.schemas import (
    NAME_RULE,
    ApiIn,
    CatalogUserIn,
    ImportProblem,
    ImportReport,
    ServiceIn,
    SkippedEntity,
    SystemIn,
    TeamIn,
    UnresolvedRef,
)
from fullcycle.catalog.service import (
    CO_OWNERS,
    CatalogError,
    Derived,
    co_owners,
    create_service,
    create_team,
    derived_fields,
    described_changes,
    get_api,
    get_service,
    get_system,
    get_team,
    resolve,
    save_api,
    save_system,
    service_changes,
    team_changes,
    update_service,
    update_team,
)

API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
DEFINITION_PLACEHOLDERS = ("$text", "$json", "$yaml")
SKIP_REASONS = {
    "location": "a Location points at other catalog files: import those files themselves",
    "template": "software templates belong to the Backstage scaffolder, not to the catalog",
}

FieldPath = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)


class BackstageImportError(CatalogError):
    """The file cannot be imported; `errors` lists every problem found. Nothing was written."""

    def __init__(self, errors: list[ImportProblem]) -> None:
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        super().__init__(None, f"the catalog file has {count}, nothing was imported: {errors[0]}")
        self.errors = errors


def field_path(path: FieldPath) -> str:
    """('spec', 'dependsOn', 1) -> 'spec.dependsOn[1]'; keys with dots or slashes in brackets."""
    text = ""
    for part in path:
        if isinstance(part, int) or "." in part or "/" in part:
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


# --- reading YAML documents -----------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | date)


def _as_text(value: Any) -> str:
    """YAML reads `tier: 1` as a number and `2024-01-01` as a date; keep what was written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _described_type(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "empty" if value is None else f"a {type(value).__name__}"


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


class Document:
    """One YAML document of the file, read field by field; wrong types become problems that
    carry the document number, the entity, the field path and the line."""

    def __init__(self, number: int, root: CommentedMap, problems: list[ImportProblem]) -> None:
        self.number = number
        self.root = root
        self.kind = ""
        self.name = ""
        self._problems = problems

    def line(self, path: FieldPath) -> int:
        """1-based line of the deepest part of `path` that exists in the document."""
        node: Any = self.root
        line: int = node.lc.line
        for part in path:
            if not _has(node, part):
                break
            position = node.lc.key(part) if isinstance(node, CommentedMap) else node.lc.item(part)
            line = position[0]
            node = node[part]
        return line + 1

    def problem(self, path: FieldPath, message: str) -> None:
        self._problems.append(
            ImportProblem(
                document=self.number,
                kind=self.kind,
                name=self.name,
                field=field_path(path),
                line=self.line(path),
                message=message,
            )
        )

    def value(self, path: FieldPath) -> Any:
        """The value at `path`, or None where the document does not have it."""
        node: Any = self.root
        for part in path:
            if not _has(node, part):
                return None
            node = node[part]
        return node

    def text(self, path: FieldPath) -> str:
        value = self.value(path)
        if value is None:
            return ""
        if not _is_scalar(value):
            self.problem(path, f"{field_path(path)} must be text, not {_described_type(value)}")
            return ""
        return _as_text(value)

    def texts(self, path: FieldPath) -> list[str]:
        value = self.value(path)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"{field_path(path)} must be a list, not {_described_type(value)}")
            return []
        result = []
        for index, item in enumerate(value):
            if _is_scalar(item):
                result.append(_as_text(item))
            else:
                item_path = (*path, index)
                self.problem(item_path, f"{field_path(item_path)} must be text")
        return result

    def mapping(self, path: FieldPath) -> dict[str, Any]:
        value = self.value(path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(
                path, f"{field_path(path)} must be a mapping, not {_described_type(value)}"
            )
            return {}
        return {str(key): item for key, item in value.items()}

    def string_map(self, path: FieldPath) -> dict[str, str]:
        return {key: self.text((*path, key)) for key in self.mapping(path)}

    def links(self) -> list[dict[str, str]]:
        path: FieldPath = ("metadata", "links")
        links = []
        for index, item in enumerate(self._list_of_mappings(path)):
            fields = ("url", "title", "icon", "type")
            link = {key: self.text((*path, index, key)) for key in fields if key in item}
            links.append(link)
        return links

    def _list_of_mappings(self, path: FieldPath) -> list[dict[str, Any]]:
        value = self.value(path)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"{field_path(path)} must be a list, not {_described_type(value)}")
            return []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                item_path = (*path, index)
                self.problem(item_path, f"{field_path(item_path)} must be a mapping with a url")
        return [item if isinstance(item, dict) else {} for item in value]


def _yaml_problem(error: YAMLError, document: int, text: str) -> ImportProblem:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = 1, None
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(error, ReaderError):
        line = text.count("\n", 0, error.position) + 1
    detail = str(error).partition("\n")[0]
    if isinstance(error, MarkedYAMLError) and error.problem:
        detail = error.problem
    context = error.context if isinstance(error, MarkedYAMLError) and error.context else ""
    message = f"broken YAML: {detail}" + (f" ({context})" if context else "")
    return ImportProblem(
        document=document, kind="", name="", field="", line=line, column=column, message=message
    )


def _read_documents(text: str) -> list[Any]:
    documents: list[Any] = []
    try:
        documents.extend(YAML(typ="rt").load_all(text))
    except YAMLError as error:
        raise BackstageImportError([_yaml_problem(error, len(documents) + 1, text)]) from error
    return documents


def _document_start_line(text: str, number: int) -> int:
    """Where document `number` starts; only needed for a document that is not a mapping (a
    list or plain text has no line information once loaded)."""
    nodes = list(YAML(typ="rt").compose_all(text))
    return int(nodes[number - 1].start_mark.line) + 1


# --- from documents to validated entities -------------------------------------------------------

EntityData = ServiceIn | TeamIn | CatalogUserIn | SystemIn | ApiIn


@dataclass
class Entity:
    kind: str  # lower-case: component, group, user, system or api
    data: EntityData

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.data.name}"


def _validated(
    document: Document, model: type[Model], raw: dict[str, Any], path_of: Callable[..., FieldPath]
) -> Model | None:
    """Validate with the schema the API uses; its errors are located in the Backstage file."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        for item in error.errors():
            field, *rest = item["loc"]
            message = item["msg"].removeprefix("Value error, ")
            path = path_of(str(field), *rest)
            document.problem(path, f"{field_path(path)}: {message}")
        return None


def _paths(base: Mapping[str, FieldPath]) -> Callable[..., FieldPath]:
    def path_of(field: str, *rest: str | int) -> FieldPath:
        return (*base.get(field, (field,)), *rest)

    return path_of


COMMON_PATHS: dict[str, FieldPath] = {
    "name": ("metadata", "name"),
    "title": ("metadata", "title"),
    "description": ("metadata", "description"),
    "tags": ("metadata", "tags"),
    "labels": ("metadata", "labels"),
    "annotations": ("metadata", "annotations"),
    "links": ("metadata", "links"),
    "type": ("spec", "type"),
    "lifecycle": ("spec", "lifecycle"),
    "owner": ("spec", "owner"),
    "system": ("spec", "system"),
    "domain": ("spec", "domain"),
    "definition": ("spec", "definition"),
    "parent": ("spec", "parent"),
    "members": ("spec", "members"),
    "member_of": ("spec", "memberOf"),
    "depends_on": ("spec", "dependsOn"),
    "provides_apis": ("spec", "providesApis"),
    "consumes_apis": ("spec", "consumesApis"),
    "email": ("spec", "profile", "email"),
    "display_name": ("spec", "profile", "displayName"),
}


def _common(document: Document) -> dict[str, Any]:
    return {
        "name": document.name,
        "title": document.text(("metadata", "title")),
        "description": document.text(("metadata", "description")),
        "links": document.links(),
        "annotations": document.string_map(("metadata", "annotations")),
    }


def _component(document: Document) -> ServiceIn | None:
    raw = _common(document)
    annotations = raw["annotations"]
    labels = document.string_map(("metadata", "labels"))
    derived = derived_fields(annotations, labels, raw["links"])
    owner = document.text(("spec", "owner"))
    raw |= {
        "type": document.text(("spec", "type")) or "service",
        "lifecycle": document.text(("spec", "lifecycle")) or "production",
        "system": document.text(("spec", "system")),
        "owners": [owner, *co_owners(annotations)],
        "depends_on": document.texts(("spec", "dependsOn")),
        "tags": document.texts(("metadata", "tags")),
        "labels": labels,
        "provides_apis": document.texts(("spec", "providesApis")),
        "consumes_apis": document.texts(("spec", "consumesApis")),
        **{field: found.value for field, found in derived.items()},
    }
    if not owner:
        document.problem(
            ("spec", "owner"),
            "spec.owner is required: the group (team) or user that owns this component",
        )
        return None
    return _validated(document, ServiceIn, raw, _component_path(derived))


def _component_path(derived: Mapping[str, Derived]) -> Callable[..., FieldPath]:
    common = _paths(COMMON_PATHS)

    def path_of(field: str, *rest: str | int) -> FieldPath:
        if field == "owners":
            first = not rest or rest[0] == 0
            return ("spec", "owner") if first else ("metadata", "annotations", CO_OWNERS)
        if field in derived:
            return derived[field].source or ("metadata", "annotations")
        return common(field, *rest)

    return path_of


def _group(document: Document) -> TeamIn | None:
    display_name = document.text(("spec", "profile", "displayName"))
    raw = _common(document) | {
        "type": document.text(("spec", "type")) or "team",
        "email": document.text(("spec", "profile", "email")),
        "parent": document.text(("spec", "parent")),
        "members": document.texts(("spec", "members")),
    }
    raw["title"] = display_name or raw["title"]
    title_path = ("spec", "profile", "displayName") if display_name else ("metadata", "title")
    return _validated(document, TeamIn, raw, _paths(COMMON_PATHS | {"title": title_path}))


def _user(document: Document) -> CatalogUserIn | None:
    raw = {
        "name": document.name,
        "display_name": document.text(("spec", "profile", "displayName")),
        "email": document.text(("spec", "profile", "email")),
        "member_of": document.texts(("spec", "memberOf")),
        "annotations": document.string_map(("metadata", "annotations")),
    }
    return _validated(document, CatalogUserIn, raw, _paths(COMMON_PATHS))


def _system(document: Document) -> SystemIn | None:
    raw = _common(document) | {
        "owner": document.text(("spec", "owner")),
        "domain": document.text(("spec", "domain")),
        "tags": document.texts(("metadata", "tags")),
    }
    return _validated(document, SystemIn, raw, _paths(COMMON_PATHS))


def _api(document: Document) -> ApiIn | None:
    raw = _common(document) | {
        "type": document.text(("spec", "type")),
        "lifecycle": document.text(("spec", "lifecycle")),
        "owner": document.text(("spec", "owner")),
        "system": document.text(("spec", "system")),
        "definition": _definition(document),
        "tags": document.texts(("metadata", "tags")),
    }
    return _validated(document, ApiIn, raw, _paths(COMMON_PATHS))


def _definition(document: Document) -> str:
    """The definition text, or a `$text: <where>` placeholder kept as that string."""
    path: FieldPath = ("spec", "definition")
    value = document.value(path)
    if not isinstance(value, dict):
        return document.text(path)
    placeholder = document.mapping(path)
    if len(placeholder) == 1:
        key = next(iter(placeholder))
        if key in DEFINITION_PLACEHOLDERS and _is_scalar(placeholder[key]):
            return f"{key}: {_as_text(placeholder[key])}"
    document.problem(
        path, "spec.definition must be the definition text or a $text, $json or $yaml reference"
    )
    return ""


READERS: dict[str, Callable[[Document], EntityData | None]] = {
    "component": _component,
    "group": _group,
    "user": _user,
    "system": _system,
    "api": _api,
}


def _identify(document: Document) -> bool:
    """Check what every entity needs (apiVersion, metadata.name...); False if it cannot be read
    further."""
    api_version = document.text(("apiVersion",))
    if api_version not in API_VERSIONS:
        known = " or ".join(API_VERSIONS)
        shown = repr(api_version) if api_version else "missing"
        document.problem(("apiVersion",), f"apiVersion {shown} is not one fullcycle reads: {known}")
    if not isinstance(document.value(("metadata",)), dict):
        document.problem(("metadata",), "metadata is required and must be a mapping with a name")
        return False
    if not document.name:
        document.problem(("metadata", "name"), "metadata.name is required")
        return False
    if not valid_name(document.name):
        document.problem(
            ("metadata", "name"), f"metadata.name {document.name!r} is invalid: {NAME_RULE}"
        )
        return False
    namespace = document.text(("metadata", "namespace"))
    if namespace and not valid_name(namespace):
        document.problem(
            ("metadata", "namespace"), f"metadata.namespace {namespace!r} is invalid: {NAME_RULE}"
        )
    spec = document.value(("spec",))
    if spec is not None and not isinstance(spec, dict):
        document.problem(("spec",), f"spec must be a mapping, not {_described_type(spec)}")
        return False
    return True


def parse_catalog(text: str) -> tuple[list[Entity], list[SkippedEntity]]:
    """Read and validate every document; raises BackstageImportError listing all problems."""
    problems: list[ImportProblem] = []
    entities: list[Entity] = []
    skipped: list[SkippedEntity] = []
    defined_in: dict[str, int] = {}
    for number, root in enumerate(_read_documents(text), start=1):
        if root is None:
            continue
        if not isinstance(root, CommentedMap):
            problems.append(_not_a_mapping(text, number, root))
            continue
        document = Document(number, root, problems)
        document.kind = document.text(("kind",))
        document.name = document.text(("metadata", "name"))
        kind = document.kind.lower()
        if not kind:
            document.problem(("kind",), "kind is required, e.g. 'kind: Component'")
            continue
        if kind not in READERS:
            reason = SKIP_REASONS.get(kind, f"fullcycle does not keep {document.kind} entities")
            skipped.append(
                SkippedEntity(
                    document=number, kind=document.kind, name=document.name, reason=reason
                )
            )
            continue
        if not _identify(document):
            continue
        key = f"{kind}:{document.name.lower()}"
        if key in defined_in:
            document.problem(
                ("metadata", "name"),
                f"metadata.name: {document.kind} {document.name!r} is defined twice, "
                f"first in document {defined_in[key]}",
            )
            continue
        defined_in[key] = number
        data = READERS[kind](document)
        if data is not None:
            entities.append(Entity(kind, data))
    if problems:
        raise BackstageImportError(problems)
    return entities, skipped


def _not_a_mapping(text: str, number: int, root: Any) -> ImportProblem:
    return ImportProblem(
        document=number,
        kind="",
        name="",
        field="",
        line=_document_start_line(text, number),
        message=(
            f"a catalog document must be a mapping with apiVersion, kind, metadata and spec, "
            f"not {_described_type(root)}"
        ),
    )


# --- planning and writing -------------------------------------------------------------------------


@dataclass
class Step:
    """What the import does to one entity; `write` is None when the entity is unchanged."""

    entity: str
    status: str  # "created", "updated" or "unchanged"
    write: Callable[[], object] | None = None


def _component_step(db: Session, ref: str, data: ServiceIn) -> Step:
    service = get_service(db, data.name)
    if service is None:
        return Step(ref, "created", lambda: create_service(db, data))
    if service_changes(service, data):
        return Step(ref, "updated", lambda: update_service(db, service, data))
    return Step(ref, "unchanged")


def _group_step(db: Session, ref: str, data: TeamIn) -> Step:
    team = get_team(db, data.name)
    if team is None:
        return Step(ref, "created", lambda: create_team(db, data))
    if team_changes(team, data):
        return Step(ref, "updated", lambda: update_team(db, team, data))
    return Step(ref, "unchanged")


def _system_step(db: Session, ref: str, data: SystemIn) -> Step:
    system = get_system(db, data.name)
    if system is None or described_changes(system, data):
        status = "created" if system is None else "updated"
        return Step(ref, status, lambda: save_system(db, system, data))
    return Step(ref, "unchanged")


def _api_step(db: Session, ref: str, data: ApiIn) -> Step:
    api = get_api(db, data.name)
    if api is None or described_changes(api, data):
        return Step(ref, "created" if api is None else "updated", lambda: save_api(db, api, data))
    return Step(ref, "unchanged")


def _find_user(db: Session, name: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.name) == name))


def _user_step(db: Session, ref: str, data: CatalogUserIn) -> Step:
    """Creates a user without a password; for an existing user only the profile (display name,
    e-mail when the file gives one) and annotations follow the file, never password or rights."""
    user = _find_user(db, data.name)
    if user is None:

        def create() -> None:
            created = create_user(
                db, data.name, None, display_name=data.display_name, email=data.email
            )
            created.annotations = data.annotations

        return Step(ref, "created", create)
    profile = {"display_name": data.display_name, "email": data.email}
    wanted: dict[str, Any] = {field: value for field, value in profile.items() if value}
    wanted["annotations"] = data.annotations
    if all(getattr(user, field) == value for field, value in wanted.items()):
        return Step(ref, "unchanged")

    def update() -> None:
        for field, value in wanted.items():
            setattr(user, field, value)

    return Step(ref, "updated", update)


def _with_member_of(entities: Sequence[Entity]) -> None:
    """Backstage states membership from either side; a group in the file gets as members its
    spec.members and the users in the file that name it in spec.memberOf."""
    users = [entity.data for entity in entities if isinstance(entity.data, CatalogUserIn)]
    for entity in entities:
        if isinstance(entity.data, TeamIn):
            joining = [user.name for user in users if entity.ref in user.member_of]
            members = list(dict.fromkeys([*entity.data.members, *joining]))
            entity.data = entity.data.model_copy(update={"members": members})


def _membership_steps(db: Session, entities: Sequence[Entity]) -> list[Step]:
    """Users in the file joining teams that exist but are not in the file: members are added,
    none removed (the file does not describe those teams)."""
    in_file = {entity.ref for entity in entities}
    joining: dict[str, list[str]] = {}
    for entity in entities:
        if isinstance(entity.data, CatalogUserIn):
            for ref in entity.data.member_of:
                if ref not in in_file:
                    joining.setdefault(ref, []).append(entity.data.name)
    steps = []
    for ref, names in joining.items():
        team = get_team(db, ref.removeprefix("group:"))
        if team is None:
            continue
        new = [name for name in names if name not in team.member_names]
        if new:
            data = TeamIn(name=team.name, members=[*team.member_names, *new])
            steps.append(Step(ref, "updated", partial(update_team, db, team, data)))
    return steps


def _entity_step(db: Session, entity: Entity) -> Step:
    data = entity.data
    if isinstance(data, ServiceIn):
        return _component_step(db, entity.ref, data)
    if isinstance(data, TeamIn):
        return _group_step(db, entity.ref, data)
    if isinstance(data, CatalogUserIn):
        return _user_step(db, entity.ref, data)
    if isinstance(data, SystemIn):
        return _system_step(db, entity.ref, data)
    return _api_step(db, entity.ref, data)


def _references(entity: Entity) -> list[tuple[str, str]]:
    """(field, reference) pairs an entity points with, in its file's terms."""
    data = entity.data
    pairs: list[tuple[str, str]] = []
    if isinstance(data, ServiceIn):
        pairs.append(("spec.owner", data.owners[0]))
        co_owner_field = field_path(("metadata", "annotations", CO_OWNERS))
        pairs += [(co_owner_field, ref) for ref in data.owners[1:]]
        pairs += [("spec.dependsOn", ref) for ref in data.depends_on]
        pairs += [("spec.providesApis", ref) for ref in data.provides_apis]
        pairs += [("spec.consumesApis", ref) for ref in data.consumes_apis]
    if isinstance(data, TeamIn):
        pairs += [("spec.parent", data.parent)] if data.parent else []
        pairs += [("spec.members", f"user:{name}") for name in data.members]
    if isinstance(data, CatalogUserIn):
        pairs += [("spec.memberOf", ref) for ref in data.member_of]
    if isinstance(data, SystemIn | ApiIn) and data.owner:
        pairs.append(("spec.owner", data.owner))
    if isinstance(data, SystemIn) and data.domain:
        pairs.append(("spec.domain", f"domain:{data.domain}"))
    if isinstance(data, ServiceIn | ApiIn) and data.system:
        pairs.append(("spec.system", f"system:{data.system}"))
    return pairs


def _unresolved(db: Session, entities: Sequence[Entity]) -> list[UnresolvedRef]:
    """References to entities neither in the file nor in the catalog: kept, and reported."""
    pointing = [(entity.ref, *pair) for entity in entities for pair in _references(entity)]
    in_file = {entity.ref for entity in entities}
    exists = {item.ref: item.exists for item in resolve(db, [ref for _, _, ref in pointing])}
    return [
        UnresolvedRef(entity=source, field=field, ref=ref)
        for source, field, ref in pointing
        if ref not in in_file and not exists[ref]
    ]


def import_catalog(db: Session, text: str, source: str, dry_run: bool = False) -> ImportReport:
    """Import Backstage entities, all or nothing: every document is validated before anything
    is written (raises BackstageImportError, having written nothing). Entities that match the
    catalog already are left untouched. With `dry_run` the report says what would happen and
    nothing is written. The caller commits."""
    entities, skipped = parse_catalog(text)
    _with_member_of(entities)
    steps = [_entity_step(db, entity) for entity in entities] + _membership_steps(db, entities)
    report = ImportReport(
        source=source, dry_run=dry_run, skipped=skipped, unresolved=_unresolved(db, entities)
    )
    for step in steps:
        getattr(report, step.status).append(step.entity)
        if step.write is not None and not dry_run:
            step.write()
    db.flush()
    return report
