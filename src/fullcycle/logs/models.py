"""Saved searches: a named query and time range, shared with everyone who can log in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fullcycle.store.database import Base, UTCDateTime, utcnow


class SavedSearch(Base):
    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    query: Mapped[str] = mapped_column(Text, default="")
    range_from: Mapped[str] = mapped_column(String(64), default="now-1h")
    range_to: Mapped[str] = mapped_column(String(64), default="now")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
