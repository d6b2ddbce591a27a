"""Page routes of the web UI, one module per area."""

from fastapi import APIRouter

from fullcycle.web.pages import login

router = APIRouter(include_in_schema=False)
router.include_router(login.router)
