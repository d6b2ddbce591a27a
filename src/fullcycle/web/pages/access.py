"""Rights checks for pages: reading is open to everyone logged in; writing needs a right.

A failed check raises Forbidden, which the app renders as the 403 page naming what was refused.
"""

from __future__ import annotations

from fullcycle.auth.dependencies import Forbidden
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope


def require_admin(principal: Principal, what: str) -> None:
    if not principal.has(Scope.ADMIN):
        raise Forbidden(f"{what} needs the admin right, which you do not have.")


def require_deploy(principal: Principal, what: str) -> None:
    if not principal.has(Scope.DEPLOY):
        raise Forbidden(f"{what} needs the deploy right, which you do not have.")
