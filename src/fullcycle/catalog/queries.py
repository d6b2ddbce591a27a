"""Read-side catalog lookups that other concepts use (auth shows a user's teams)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from fullcycle.catalog.models import Team, TeamMember


def team_names_by_member(db: Session) -> dict[str, list[str]]:
    """user name -> names of the teams listing them as a member."""
    rows = db.execute(select(TeamMember.user_name, Team.name).join(Team).order_by(Team.name)).all()
    result: dict[str, list[str]] = defaultdict(list)
    for user_name, team_name in rows:
        result[user_name].append(team_name)
    return dict(result)
