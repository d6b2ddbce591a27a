"""Exporting the catalog as Backstage catalog files, which import back to the same catalog."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString
from sqlalchemy.orm import Session

from fullcycle.auth.users import all_users
from fullcycle.catalog.backstage import DEFINITION_PLACEHOLDERS
from fullcycle.catalog.models import Api, Service, System
from fullcycle.catalog.queries import team_names_by_member
from fullcycle.catalog.service import list_apis, list_services, list_systems, list_teams

EXPORT_API_VERSION = "backstage.io/v1alpha1"
EXPORT_HEADER = (
    "# fullcycle catalog export: Backstage entities.\n"
    "# Import it again with `fullcycle services import` or POST /api/v1/catalog/import.\n"
)


def _block(text: str) -> str:
    """Multi-line text as a YAML literal block, as people write descriptions and definitions."""
    return LiteralScalarString(text) if "\n" in text else text


def _non_empty(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value}


def _entity(kind: str, metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": EXPORT_API_VERSION,
        "kind": kind,
        "metadata": _non_empty(metadata),
        "spec": dict(spec),
    }


def _group_documents(db: Session) -> list[dict[str, Any]]:
    teams = list_teams(db)
    return [
        _entity(
            "Group",
            {
                "name": team.name,
                "description": _block(team.description),
                "annotations": team.annotations,
                "links": team.links,
            },
            {
                "type": team.type,
                "profile": _non_empty({"displayName": team.title, "email": team.email}),
            }
            | _non_empty({"parent": team.parent_ref})
            | {
                "children": [
                    child.name for child in teams if child.parent_ref == f"group:{team.name}"
                ],
                "members": team.member_names,
            },
        )
        for team in teams
    ]


def _user_documents(db: Session) -> list[dict[str, Any]]:
    teams = team_names_by_member(db)
    return [
        _entity(
            "User",
            {"name": user.name, "annotations": user.annotations},
            {
                "profile": _non_empty({"displayName": user.display_name, "email": user.email}),
                "memberOf": teams.get(user.name.lower(), []),
            },
        )
        for user in all_users(db)
    ]


def _described_metadata(row: System | Api) -> dict[str, Any]:
    return {
        "name": row.name,
        "title": row.title,
        "description": _block(row.description),
        "tags": row.tags,
        "annotations": row.annotations,
        "links": row.links,
    }


def _system_documents(db: Session) -> list[dict[str, Any]]:
    return [
        _entity(
            "System",
            _described_metadata(system),
            _non_empty({"owner": system.owner_ref, "domain": system.domain}),
        )
        for system in list_systems(db)
    ]


def _definition_out(definition: str) -> Any:
    key, separator, where = definition.partition(": ")
    if separator and key in DEFINITION_PLACEHOLDERS and "\n" not in definition:
        return {key: where}
    return _block(definition)


def _api_documents(db: Session) -> list[dict[str, Any]]:
    return [
        _entity(
            "API",
            _described_metadata(api),
            _non_empty(
                {
                    "type": api.type,
                    "lifecycle": api.lifecycle,
                    "owner": api.owner_ref,
                    "system": api.system,
                    "definition": _definition_out(api.definition),
                }
            ),
        )
        for api in list_apis(db)
    ]


def _component_document(service: Service) -> dict[str, Any]:
    metadata = {
        "name": service.name,
        "title": service.title,
        "description": _block(service.description),
        "tags": service.tags,
        "labels": service.labels,
        "annotations": service.annotations,
        "links": service.links,
    }
    spec = {
        "type": service.type,
        "lifecycle": service.lifecycle,
        "owner": service.owner_refs[0] if service.owner_refs else "",
    } | _non_empty(
        {
            "system": service.system,
            "dependsOn": service.dependency_refs,
            "providesApis": service.provides_apis,
            "consumesApis": service.consumes_apis,
        }
    )
    return _entity("Component", metadata, spec)


def export_catalog(db: Session) -> str:
    """The whole catalog as multi-document Backstage YAML (groups, users, systems, APIs, then
    components), which imports back to the same catalog."""
    documents = [
        *_group_documents(db),
        *_user_documents(db),
        *_system_documents(db),
        *_api_documents(db),
        *(_component_document(service) for service in list_services(db)),
    ]
    yaml = YAML(typ="rt")
    yaml.explicit_start = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    buffer.write(EXPORT_HEADER)
    if documents:
        yaml.dump_all(documents, buffer)
    return buffer.getvalue()
