"""JSON shapes of the catalog, shared by the API, the web pages, the CLI and the Backstage import.

Names are lower-cased and references normalised here ("payments" -> "group:payments"), so that
every writer stores the same form and references compare as plain strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fullcycle.catalog.refs import parse_ref, valid_name

NAME_RULE = "use letters, digits, '.', '_' or '-' (at most 63), starting with a letter or digit"


def _entity_name(value: str) -> str:
    if not valid_name(value):
        raise ValueError(f"invalid name {value!r}: {NAME_RULE}")
    return value.lower()


def _url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _email(value: str) -> str:
    if value and ("@" not in value or any(char.isspace() for char in value)):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def flat_ref(text: str, default_kind: str) -> str:
    """'kind:name', the one form references are stored in.

    fullcycle has a single namespace: the namespace part of a Backstage reference is accepted
    and dropped, so that references compare as plain strings.
    """
    ref = parse_ref(text, default_kind)
    return f"{ref.kind}:{ref.name}"


def _ref_to(default_kind: str) -> AfterValidator:
    """A reference, normalised; an empty one stays empty where the field is optional."""
    return AfterValidator(lambda value: flat_ref(value, default_kind) if value else "")


def _name_of(default_kind: str) -> AfterValidator:
    """A reference where only a name fits: 'system:commerce' and 'commerce' store 'commerce'."""
    return AfterValidator(lambda value: parse_ref(value, default_kind).name if value else "")


Name = Annotated[str, AfterValidator(_entity_name)]
Url = Annotated[str, Field(max_length=500), AfterValidator(_url)]
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
Word = Annotated[str, Field(max_length=50)]
Title = Annotated[str, Field(max_length=200)]
StringMap = dict[str, str]
ComponentRef = Annotated[str, Field(min_length=1, max_length=200), _ref_to("component")]
OwnerRef = Annotated[str, Field(min_length=1, max_length=200), _ref_to("group")]
OptionalOwnerRef = Annotated[str, Field(max_length=200), _ref_to("group")]
ParentRef = Annotated[str, Field(max_length=200), _ref_to("group")]
GroupRef = Annotated[str, Field(min_length=1, max_length=200), _ref_to("group")]
ApiRef = Annotated[str, Field(min_length=1, max_length=200), _ref_to("api")]
UserName = Annotated[str, Field(min_length=1, max_length=200), _name_of("user")]
SystemName = Annotated[str, Field(max_length=200), _name_of("system")]
DomainName = Annotated[str, Field(max_length=200), _name_of("domain")]
Tag = Annotated[str, Field(min_length=1, max_length=63)]


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(min_length=1)
    title: str = ""
    icon: str = ""
    type: str = ""

    def stored(self) -> dict[str, str]:
        """The stored form: empty optional keys are left out, as Backstage files leave them."""
        return {key: value for key, value in self.model_dump().items() if value or key == "url"}


class ServiceIn(BaseModel):
    """A service as written by the API, the pages and the Backstage import.

    On update, fields left out of the request keep their value (so a form that does not show
    annotations does not wipe them); fields sent replace the stored value.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name
    title: Title = ""
    description: str = ""
    type: Word = "service"
    lifecycle: Word = "production"
    tier: Word = ""
    system: SystemName = ""
    repository_url: Url = ""
    runbook_url: Url = ""
    oncall_contact: str = Field(default="", max_length=320)
    owners: list[OwnerRef] = Field(min_length=1)
    depends_on: list[ComponentRef] = []
    tags: list[Tag] = []
    links: list[Link] = []
    annotations: StringMap = {}
    labels: StringMap = {}
    provides_apis: list[ApiRef] = []
    consumes_apis: list[ApiRef] = []


class ResolvedRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ref: str
    kind: str
    name: str
    exists: bool
    url: str | None


class ServiceOut(BaseModel):
    name: str
    title: str
    description: str
    type: str
    lifecycle: str
    tier: str
    system: str
    repository_url: str
    runbook_url: str
    oncall_contact: str
    owners: list[ResolvedRefOut]
    depends_on: list[str]
    dependencies: list[ResolvedRefOut]
    dependents: list[str]
    unowned: bool
    tags: list[str]
    links: list[Link]
    annotations: dict[str, str]
    labels: dict[str, str]
    provides_apis: list[str]
    consumes_apis: list[str]
    created_at: datetime
    updated_at: datetime


class TeamIn(BaseModel):
    """A team (a Backstage Group). As with services, fields left out of an update keep their
    value."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    title: Title = ""
    description: str = ""
    type: Word = "team"
    email: Email = ""
    parent: ParentRef = ""
    members: list[UserName] = []
    links: list[Link] = []
    annotations: StringMap = {}


class TeamOut(BaseModel):
    name: str
    title: str
    description: str
    type: str
    email: str
    parent: str
    members: list[ResolvedRefOut]
    services: list[str]
    links: list[Link]
    annotations: dict[str, str]
    created_at: datetime
    updated_at: datetime


class CatalogUserIn(BaseModel):
    """A person from a Backstage User entity. It becomes a fullcycle user without a password
    (who cannot log in until an admin sets one); an import never changes a password or rights."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    display_name: Title = ""
    email: Email = ""
    member_of: list[GroupRef] = []
    annotations: StringMap = {}


class SystemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    title: Title = ""
    description: str = ""
    owner: OptionalOwnerRef = ""
    domain: DomainName = ""
    tags: list[Tag] = []
    links: list[Link] = []
    annotations: StringMap = {}


class SystemOut(BaseModel):
    name: str
    title: str
    description: str
    owner: str
    domain: str
    services: list[str]
    tags: list[str]
    links: list[Link]
    annotations: dict[str, str]


class ApiIn(BaseModel):
    """A Backstage API, kept as a described link. A definition given as a `$text`/`$json`/`$yaml`
    placeholder is stored as that text ("$text: ./openapi.yaml"), not fetched."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    title: Title = ""
    description: str = ""
    type: Word = ""
    lifecycle: Word = ""
    owner: OptionalOwnerRef = ""
    system: SystemName = ""
    definition: str = ""
    tags: list[Tag] = []
    links: list[Link] = []
    annotations: StringMap = {}


class ApiOut(BaseModel):
    name: str
    title: str
    description: str
    type: str
    lifecycle: str
    owner: str
    system: str
    definition: str
    provided_by: list[str]
    consumed_by: list[str]
    tags: list[str]
    links: list[Link]
    annotations: dict[str, str]


class ImportProblem(BaseModel):
    """One thing wrong with a Backstage file, located so that a person can go and fix it."""

    document: int = Field(description="1-based position of the YAML document in the file")
    kind: str
    name: str
    field: str = Field(description="path inside the document, e.g. 'spec.dependsOn[1]'")
    line: int = Field(description="1-based line in the file")
    column: int | None = None
    message: str

    def __str__(self) -> str:
        """'document 3 (Component 'orders'), line 12: spec.owner is required...' (every message
        names its field)."""
        entity = " ".join(
            part for part in (self.kind, repr(self.name) if self.name else "") if part
        )
        place = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return (
            f"document {self.document}{f' ({entity})' if entity else ''}, {place}: {self.message}"
        )


class SkippedEntity(BaseModel):
    document: int
    kind: str
    name: str
    reason: str


class UnresolvedRef(BaseModel):
    entity: str = Field(description="the entity holding the reference, e.g. 'component:orders'")
    field: str
    ref: str


class ImportReport(BaseModel):
    source: str
    dry_run: bool
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    skipped: list[SkippedEntity] = []
    unresolved: list[UnresolvedRef] = []

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "skipped": len(self.skipped),
            "unresolved": len(self.unresolved),
        }
