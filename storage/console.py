"""Tables of the 评 step and the admin console: satisfaction answers, one-time sign-in links, sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = True) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class Satisfaction(SQLModel, table=True):
    """One reporter's satisfaction with one ticket: asked once after they confirmed the fix.

    ``answer`` is ``satisfied`` (满意), ``basic`` (基本满意) or ``unsatisfied`` (不满意); NULL while
    the question waits (it expires after :data:`handlers.satisfaction.ANSWER_WINDOW`)."""

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(index=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    person: str
    asked_at: datetime = Field(sa_column=_ts(nullable=False))
    answer: str | None = None
    text: str = ""  # the reporter's own words
    answered_at: datetime | None = Field(default=None, sa_column=_ts())

    __table_args__ = (UniqueConstraint("ticket_id", "person"),)


class WebToken(SQLModel, table=True):
    """A one-time sign-in link (``/web`` in chat). Only the SHA-256 of the token is kept."""

    token_hash: str = Field(primary_key=True)
    community: str
    person: str
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_ts())


class WebSession(SQLModel, table=True):
    """A signed-in console session (the cookie holds the session id; only its SHA-256 is kept)."""

    id_hash: str = Field(primary_key=True)
    community: str
    person: str
    csrf: str
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
