"""JSON shapes of the auth API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fullcycle.catalog.refs import valid_name


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    display_name: str
    email: str
    is_admin: bool
    can_deploy: bool
    is_active: bool
    can_log_in: bool
    teams: list[str] = []


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    display_name: str = ""
    email: str = ""
    password: str | None = Field(default=None, min_length=8, max_length=200)
    is_admin: bool = False
    can_deploy: bool = True

    @field_validator("name")
    @classmethod
    def _name_is_valid(cls, value: str) -> str:
        if not valid_name(value):
            raise ValueError(
                "use letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return value


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = None
    email: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)
    is_admin: bool | None = None
    can_deploy: bool | None = None
    is_active: bool | None = None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    service: str | None = Field(
        default=None, description="limit an ingest token to this catalog service's telemetry"
    )

    @field_validator("service")
    @classmethod
    def _service_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and not valid_name(value):
            raise ValueError("not a valid service name")
        return value.lower() if value else None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    user: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    service: str | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret; shown only in this response")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: str
    token_name: str = "cli"
    scopes: list[str] = ["read", "deploy"]
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class Me(BaseModel):
    user: UserOut
    scopes: list[str]
    via: str
