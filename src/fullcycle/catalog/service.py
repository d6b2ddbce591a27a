"""The catalog's service layer: reading and writing services, teams, systems and APIs.

Pure functions over a SQLAlchemy session, shared by the API routes, the web pages and the
Backstage import. They flush but never commit: the caller commits, together with its audit event.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from fullcycle.auth.models import User
from fullcycle.catalog.models import (
    Api,
    Service,
    ServiceDependency,
    ServiceOwner,
    System,
    Team,
    TeamMember,
)
from fullcycle.catalog.refs import parse_ref
from fullcycle.catalog.schemas import (
    ApiIn,
    ApiOut,
    ResolvedRefOut,
    ServiceIn,
    ServiceOut,
    SystemIn,
    SystemOut,
    TeamIn,
    TeamOut,
    flat_ref,
)
from fullcycle.store.database import utcnow


class CatalogError(ValueError):
    """Invalid catalog input; `field` names the field at fault (None when it is not one field)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class CatalogConflict(CatalogError):
    """The write clashes with what exists (a taken name, a team that still owns services): 409."""


# --- references -------------------------------------------------------------------------------

PAGE_PREFIX = {"component": "/services/", "group": "/teams/", "user": "/users/"}
NAME_COLUMN = {
    "component": Service.name,
    "group": Team.name,
    "user": User.name,
    "system": System.name,
    "api": Api.name,
}


@dataclass(frozen=True)
class ResolvedRef:
    ref: str
    kind: str
    name: str
    exists: bool
    url: str | None


def existing_names(db: Session, kind: str, names: Iterable[str]) -> dict[str, str]:
    """lower-cased name -> stored name, for those of `names` that exist as entities of `kind`."""
    column = NAME_COLUMN.get(kind)
    wanted = {name.lower() for name in names}
    if column is None or not wanted:
        return {}
    rows = db.scalars(select(column).where(func.lower(column).in_(wanted)))
    return {name.lower(): name for name in rows}


def resolve(db: Session, refs: Sequence[str]) -> list[ResolvedRef]:
    """Look references up (one query per kind); refs without a kind are read as components.

    Entities fullcycle does not model (resources, domains...) and malformed refs never exist.
    """
    parsed: list[tuple[str, str, str]] = []
    for ref in refs:
        try:
            entity = parse_ref(ref, "component")
        except ValueError:
            parsed.append((ref, "", ref))
            continue
        parsed.append((ref, entity.kind, entity.name))
    names_by_kind: dict[str, set[str]] = defaultdict(set)
    for _, kind, name in parsed:
        names_by_kind[kind].add(name)
    found = {kind: existing_names(db, kind, names) for kind, names in names_by_kind.items()}
    result = []
    for ref, kind, name in parsed:
        stored = found.get(kind, {}).get(name)
        prefix = PAGE_PREFIX.get(kind)
        url = f"{prefix}{stored}" if stored is not None and prefix else None
        result.append(ResolvedRef(ref, kind, stored or name, stored is not None, url))
    return result


def _resolved_out(resolved: ResolvedRef) -> ResolvedRefOut:
    return ResolvedRefOut.model_validate(resolved)


# --- fields fullcycle reads from Backstage annotations -----------------------------------------

REPOSITORY = "fullcycle.dev/repository"
RUNBOOK = "fullcycle.dev/runbook"
ONCALL = "fullcycle.dev/oncall"
TIER = "fullcycle.dev/tier"
CO_OWNERS = "fullcycle.dev/co-owners"
FIELD_ANNOTATIONS = {
    "repository_url": REPOSITORY,
    "runbook_url": RUNBOOK,
    "oncall_contact": ONCALL,
    "tier": TIER,
}
ONCALL_ANNOTATIONS = (
    "pagerduty.com/service-id",
    "pagerduty.com/integration-key",
    "opsgenie.com/team",
    "opsgenie.com/component-selector",
)
MAX_LENGTH = {"repository_url": 500, "runbook_url": 500, "oncall_contact": 320, "tier": 50}
VIEW_URL_FILE_PART = re.compile(r"(/-)?/(blob|tree|src|raw)/.*$")
SLUG = re.compile(r"^[\w.-]+(/[\w.-]+)+$")


class Derived(NamedTuple):
    """A value read from annotations, labels or links, and where it was found (for errors)."""

    value: str
    source: tuple[str | int, ...]


NOT_FOUND = Derived("", ())


def _http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _repository(annotations: Mapping[str, str]) -> Derived:
    where = ("metadata", "annotations")
    candidates: list[tuple[str, str]] = []
    github = annotations.get("github.com/project-slug", "")
    if SLUG.match(github):
        candidates.append(("github.com/project-slug", f"https://github.com/{github}"))
    gitlab = annotations.get("gitlab.com/project-slug", "")
    if SLUG.match(gitlab):
        host = annotations.get("gitlab.com/instance", "gitlab.com")
        candidates.append(("gitlab.com/project-slug", f"https://{host}/{gitlab}"))
    location = annotations.get("backstage.io/source-location", "").removeprefix("url:")
    candidates.append(("backstage.io/source-location", location))
    view = annotations.get("backstage.io/view-url", "")
    candidates.append(("backstage.io/view-url", VIEW_URL_FILE_PART.sub("", view)))
    for key, url in candidates:
        if _http(url) and len(url) <= MAX_LENGTH["repository_url"]:
            return Derived(url, (*where, key))
    return NOT_FOUND


def _runbook(links: Sequence[Mapping[str, str]]) -> Derived:
    for index, link in enumerate(links):
        described = f"{link.get('title', '')} {link.get('type', '')}".lower()
        if "runbook" in described:
            return Derived(link["url"], ("metadata", "links", index, "url"))
    return NOT_FOUND


def _oncall(annotations: Mapping[str, str]) -> Derived:
    for key in ONCALL_ANNOTATIONS:
        value = annotations.get(key, "")
        contact = f"{key}: {value}"
        if value and len(contact) <= MAX_LENGTH["oncall_contact"]:
            return Derived(contact, ("metadata", "annotations", key))
    return NOT_FOUND


def _tier(annotations: Mapping[str, str], labels: Mapping[str, str]) -> Derived:
    for where, values, key in (
        ("labels", labels, TIER),
        ("labels", labels, "tier"),
        ("annotations", annotations, "tier"),
    ):
        value = values.get(key, "")
        if value and len(value) <= MAX_LENGTH["tier"]:
            return Derived(value, ("metadata", where, key))
    return NOT_FOUND


def derived_fields(
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
    links: Sequence[Mapping[str, str]],
) -> dict[str, Derived]:
    """repository_url, runbook_url, oncall_contact and tier as Backstage files express them.

    An explicit fullcycle.dev/<field> annotation wins (even when empty); otherwise the first
    usable of the conventional annotations, labels and links, in the order documented in
    docs/catalog.md.
    """
    conventional = {
        "repository_url": _repository(annotations),
        "runbook_url": _runbook(links),
        "oncall_contact": _oncall(annotations),
        "tier": _tier(annotations, labels),
    }
    result = {}
    for field, key in FIELD_ANNOTATIONS.items():
        explicit = key in annotations
        result[field] = (
            Derived(annotations[key], ("metadata", "annotations", key))
            if explicit
            else conventional[field]
        )
    return result


def co_owners(annotations: Mapping[str, str]) -> list[str]:
    """Owners after the first: Backstage has one `spec.owner`, fullcycle allows several."""
    return [ref.strip() for ref in annotations.get(CO_OWNERS, "").split(",") if ref.strip()]


def _annotations_for(values: Mapping[str, Any]) -> dict[str, str]:
    """The annotations to store: as given, plus what an export needs to carry values set in
    fullcycle that the Backstage annotations do not express, so an export imports back the same.
    """
    annotations = dict(values["annotations"])
    derived = derived_fields(annotations, values["labels"], values["links"])
    for field, key in FIELD_ANNOTATIONS.items():
        if derived[field].value != values[field]:
            annotations[key] = values[field]
    extra_owners = values["owners"][1:]
    if not extra_owners:
        annotations.pop(CO_OWNERS, None)
    elif _written_co_owners(annotations) != extra_owners:
        annotations[CO_OWNERS] = ", ".join(extra_owners)
    return annotations


def _written_co_owners(annotations: Mapping[str, str]) -> list[str]:
    try:
        return [flat_ref(ref, "group") for ref in co_owners(annotations)]
    except ValueError:
        return []


# --- shared write helpers ------------------------------------------------------------------------


def _differences(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    return [field for field, value in desired.items() if current.get(field) != value]


def _given(data: ServiceIn | TeamIn | SystemIn | ApiIn, updating: bool) -> dict[str, Any]:
    """The fields a write sets: all on create, only those sent on update."""
    values = data.model_dump(include=set(data.model_fields_set) if updating else None)
    if "links" in values:
        values["links"] = [link.stored() for link in data.links]
    return values


def _sync_rows(
    rows: list[Any], wanted: Sequence[str], key: str, make: Callable[[str], Any]
) -> None:
    """Make `rows` (a relationship list) hold `wanted` in order, keeping rows that stay.

    Rows are reused rather than replaced: a delete and an insert of the same value in one flush
    would break the (parent, value) unique constraint.
    """
    by_value = {getattr(row, key): row for row in rows}
    kept = []
    for position, value in enumerate(wanted):
        row = by_value.pop(value, None) or make(value)
        row.position = position
        kept.append(row)
    rows[:] = kept


# --- services ------------------------------------------------------------------------------------

SERVICE_COLUMNS = (
    "name",
    "title",
    "description",
    "type",
    "lifecycle",
    "tier",
    "system",
    "repository_url",
    "runbook_url",
    "oncall_contact",
    "tags",
    "links",
    "annotations",
    "labels",
    "provides_apis",
    "consumes_apis",
)


def _with_refs(query: Any) -> Any:
    return query.options(selectinload(Service.owners), selectinload(Service.dependencies))


def list_services(
    db: Session, search: str | None = None, owner: str | None = None
) -> list[Service]:
    """Services by name; `search` matches name, title, description or a tag (any case), and
    `owner` is a team name or an owner reference ("user:jdoe")."""
    query = _with_refs(select(Service).order_by(Service.name))
    if owner:
        try:
            owner_ref = flat_ref(owner, "group")
        except ValueError as error:
            raise CatalogError("owner", str(error)) from error
        owned = select(ServiceOwner.service_id).where(ServiceOwner.ref == owner_ref)
        query = query.where(Service.id.in_(owned))
    services = list(db.scalars(query))
    if search:
        needle = search.casefold()
        services = [service for service in services if _matches(service, needle)]
    return services


def _matches(service: Service, needle: str) -> bool:
    haystack = [service.name, service.title, service.description, *service.tags]
    return any(needle in text.casefold() for text in haystack)


def get_service(db: Session, name: str) -> Service | None:
    return db.scalar(_with_refs(select(Service).where(Service.name == name.lower())))


def services_owned_by(db: Session, team_name: str) -> list[Service]:
    return list_services(db, owner=f"group:{team_name}")


def _service_values(service: Service) -> dict[str, Any]:
    values = {column: getattr(service, column) for column in SERVICE_COLUMNS}
    values["owners"] = service.owner_refs
    values["depends_on"] = service.dependency_refs
    return values


def _desired_service(service: Service | None, data: ServiceIn) -> dict[str, Any]:
    values = _service_values(service) if service else {}
    values.update(_given(data, updating=service is not None))
    values["owners"] = list(dict.fromkeys(values["owners"]))
    values["depends_on"] = list(dict.fromkeys(values["depends_on"]))
    values["annotations"] = _annotations_for(values)
    return values


def service_changes(service: Service, data: ServiceIn) -> list[str]:
    """The fields an update with `data` would change (empty: it would change nothing)."""
    return _differences(_service_values(service), _desired_service(service, data))


def _check_service_name_free(db: Session, name: str) -> None:
    if get_service(db, name) is not None:
        raise CatalogConflict("name", f"a service named {name!r} already exists")


def _apply_service(service: Service, values: Mapping[str, Any]) -> None:
    for column in SERVICE_COLUMNS:
        setattr(service, column, values[column])
    _sync_rows(service.owners, values["owners"], "ref", lambda ref: ServiceOwner(ref=ref))
    _sync_rows(
        service.dependencies, values["depends_on"], "ref", lambda ref: ServiceDependency(ref=ref)
    )


def create_service(db: Session, data: ServiceIn) -> Service:
    _check_service_name_free(db, data.name)
    service = Service(owners=[], dependencies=[])
    _apply_service(service, _desired_service(None, data))
    db.add(service)
    db.flush()
    return service


def update_service(db: Session, service: Service, data: ServiceIn) -> Service:
    """Apply `data`; a rename to a taken name is a conflict. Nothing changes, not even
    updated_at, when `data` says what is stored already."""
    values = _desired_service(service, data)
    if not _differences(_service_values(service), values):
        return service
    if values["name"] != service.name:
        _check_service_name_free(db, values["name"])
    _apply_service(service, values)
    service.updated_at = utcnow()
    db.flush()
    return service


def delete_service(db: Session, service: Service) -> None:
    db.delete(service)
    db.flush()


def _dependents(db: Session, names: Iterable[str]) -> dict[str, list[str]]:
    """service name -> names of the services that depend on it."""
    refs = {f"component:{name}": name for name in names}
    rows = db.execute(
        select(ServiceDependency.ref, Service.name)
        .join(Service, Service.id == ServiceDependency.service_id)
        .where(ServiceDependency.ref.in_(refs))
        .order_by(Service.name)
    )
    result: dict[str, list[str]] = defaultdict(list)
    for ref, dependent in rows:
        result[refs[ref]].append(dependent)
    return result


def service_views(db: Session, services: Sequence[Service]) -> list[ServiceOut]:
    """The JSON/page view of many services, with a fixed number of queries."""
    refs = [ref for service in services for ref in (*service.owner_refs, *service.dependency_refs)]
    resolved = {item.ref: item for item in resolve(db, refs)}
    dependents = _dependents(db, [service.name for service in services])
    return [_service_out(service, resolved, dependents[service.name]) for service in services]


def service_view(db: Session, service: Service) -> ServiceOut:
    return service_views(db, [service])[0]


def _service_out(
    service: Service, resolved: Mapping[str, ResolvedRef], dependents: list[str]
) -> ServiceOut:
    owners = [resolved[ref] for ref in service.owner_refs]
    unowned = not any(owner.exists and owner.kind in ("group", "user") for owner in owners)
    fields = {column: getattr(service, column) for column in SERVICE_COLUMNS}
    return ServiceOut(
        **fields,
        owners=[_resolved_out(owner) for owner in owners],
        depends_on=service.dependency_refs,
        dependencies=[_resolved_out(resolved[ref]) for ref in service.dependency_refs],
        dependents=dependents,
        unowned=unowned,
        created_at=service.created_at,
        updated_at=service.updated_at,
    )


# --- teams ---------------------------------------------------------------------------------------

TEAM_COLUMNS = ("name", "title", "description", "type", "email", "links", "annotations")


def list_teams(db: Session) -> list[Team]:
    return list(db.scalars(select(Team).options(selectinload(Team.members)).order_by(Team.name)))


def get_team(db: Session, name: str) -> Team | None:
    query = select(Team).options(selectinload(Team.members)).where(Team.name == name.lower())
    return db.scalar(query)


def _team_values(team: Team) -> dict[str, Any]:
    values = {column: getattr(team, column) for column in TEAM_COLUMNS}
    values["parent"] = team.parent_ref
    values["members"] = team.member_names
    return values


def _desired_team(team: Team | None, data: TeamIn) -> dict[str, Any]:
    values = _team_values(team) if team else {}
    values.update(_given(data, updating=team is not None))
    values["members"] = list(dict.fromkeys(values["members"]))
    return values


def team_changes(team: Team, data: TeamIn) -> list[str]:
    return _differences(_team_values(team), _desired_team(team, data))


def _check_team_name_free(db: Session, name: str) -> None:
    if get_team(db, name) is not None:
        raise CatalogConflict("name", f"a team named {name!r} already exists")


def _apply_team(team: Team, values: Mapping[str, Any]) -> None:
    for column in TEAM_COLUMNS:
        setattr(team, column, values[column])
    team.parent_ref = values["parent"]
    _sync_rows(team.members, values["members"], "user_name", lambda n: TeamMember(user_name=n))


def create_team(db: Session, data: TeamIn) -> Team:
    _check_team_name_free(db, data.name)
    team = Team(members=[])
    _apply_team(team, _desired_team(None, data))
    db.add(team)
    db.flush()
    return team


def update_team(db: Session, team: Team, data: TeamIn) -> Team:
    values = _desired_team(team, data)
    if not _differences(_team_values(team), values):
        return team
    if values["name"] != team.name:
        _check_team_name_free(db, values["name"])
    _apply_team(team, values)
    team.updated_at = utcnow()
    db.flush()
    return team


def delete_team(db: Session, team: Team) -> None:
    """Refused while the team owns services: they would silently become unowned."""
    owned = [service.name for service in services_owned_by(db, team.name)]
    if owned:
        raise CatalogConflict(
            None,
            f"team {team.name!r} still owns {', '.join(owned)}: give them another owner first",
        )
    db.delete(team)
    db.flush()


def _owned_services(db: Session) -> dict[str, list[str]]:
    """owner reference -> names of the services it owns."""
    rows = db.execute(
        select(ServiceOwner.ref, Service.name)
        .join(Service, Service.id == ServiceOwner.service_id)
        .order_by(Service.name)
    )
    result: dict[str, list[str]] = defaultdict(list)
    for ref, name in rows:
        result[ref].append(name)
    return result


def team_views(db: Session, teams: Sequence[Team]) -> list[TeamOut]:
    refs = [f"user:{name}" for team in teams for name in team.member_names]
    resolved = {item.ref: item for item in resolve(db, refs)}
    owned = _owned_services(db)
    return [
        TeamOut(
            **{column: getattr(team, column) for column in TEAM_COLUMNS},
            parent=team.parent_ref,
            members=[_resolved_out(resolved[f"user:{name}"]) for name in team.member_names],
            services=owned.get(f"group:{team.name}", []),
            created_at=team.created_at,
            updated_at=team.updated_at,
        )
        for team in teams
    ]


def team_view(db: Session, team: Team) -> TeamOut:
    return team_views(db, [team])[0]


# --- systems and APIs (written by the Backstage import) -------------------------------------------

SYSTEM_COLUMNS = ("name", "title", "description", "domain", "tags", "links", "annotations")
API_COLUMNS = (
    "name",
    "title",
    "description",
    "type",
    "lifecycle",
    "system",
    "definition",
    "tags",
    "links",
    "annotations",
)


def list_systems(db: Session) -> list[System]:
    return list(db.scalars(select(System).order_by(System.name)))


def get_system(db: Session, name: str) -> System | None:
    return db.scalar(select(System).where(System.name == name.lower()))


def list_apis(db: Session) -> list[Api]:
    return list(db.scalars(select(Api).order_by(Api.name)))


def get_api(db: Session, name: str) -> Api | None:
    return db.scalar(select(Api).where(Api.name == name.lower()))


def _described_values(row: System | Api, columns: Sequence[str]) -> dict[str, Any]:
    values = {column: getattr(row, column) for column in columns}
    values["owner"] = row.owner_ref
    return values


def described_changes(row: System | Api, data: SystemIn | ApiIn) -> list[str]:
    """What saving `data` over a system or API would change."""
    columns = SYSTEM_COLUMNS if isinstance(row, System) else API_COLUMNS
    return _differences(_described_values(row, columns), _given(data, updating=False))


def save_system(db: Session, system: System | None, data: SystemIn) -> System:
    """Create the system (`system` is None) or replace its fields with `data`."""
    row = system or System()
    _apply_described(row, SYSTEM_COLUMNS, _given(data, updating=False))
    db.add(row)
    db.flush()
    return row


def save_api(db: Session, api: Api | None, data: ApiIn) -> Api:
    row = api or Api()
    _apply_described(row, API_COLUMNS, _given(data, updating=False))
    db.add(row)
    db.flush()
    return row


def _apply_described(row: System | Api, columns: Sequence[str], values: Mapping[str, Any]) -> None:
    for column in columns:
        setattr(row, column, values[column])
    row.owner_ref = values["owner"]


def system_views(db: Session, systems: Sequence[System]) -> list[SystemOut]:
    members: dict[str, list[str]] = defaultdict(list)
    for name, system in db.execute(select(Service.name, Service.system).order_by(Service.name)):
        members[system].append(name)
    return [
        SystemOut(
            **_described_values(system, SYSTEM_COLUMNS),
            services=members[system.name],
        )
        for system in systems
    ]


def api_views(db: Session, apis: Sequence[Api]) -> list[ApiOut]:
    providers: dict[str, list[str]] = defaultdict(list)
    consumers: dict[str, list[str]] = defaultdict(list)
    rows = db.execute(
        select(Service.name, Service.provides_apis, Service.consumes_apis).order_by(Service.name)
    )
    for name, provides, consumes in rows:
        for ref in provides:
            providers[ref].append(name)
        for ref in consumes:
            consumers[ref].append(name)
    return [
        ApiOut(
            **_described_values(api, API_COLUMNS),
            provided_by=providers[f"api:{api.name}"],
            consumed_by=consumers[f"api:{api.name}"],
        )
        for api in apis
    ]
