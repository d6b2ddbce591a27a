"""The catalog API under /api/v1: services, teams, systems, APIs, Backstage import/export."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["catalog"])
