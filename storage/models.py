"""SQLModel tables. Every datetime is stored in UTC (naive columns hold UTC; see ``storage.db.utc``).

The database is the schedule: follow-ups and undelivered messages are rows with a due time,
so a restart loses nothing and two processes never fire the same row (leases).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(index: bool = False, nullable: bool = True) -> Column:
    return Column(DateTime(timezone=True), index=index, nullable=nullable)


class Ticket(SQLModel, table=True):
    """One resident request and where it stands."""

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(index=True)
    intent: str
    status: str = Field(index=True)  # open | accepted | resolved | closed
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    urgent: bool = False
    text: str
    reporter: str
    assignee: str
    escalation_level: int = 0  # 0 as routed; +1 per escalation step
    reopen_count: int = 0
    confidence: float = 0.0
    opened_at: datetime = Field(sa_column=_ts(index=True, nullable=False))
    dispatched_at: datetime = Field(sa_column=_ts(nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=_ts())
    resolved_at: datetime | None = Field(default=None, sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    channel: str = "simulated"
    chat_ref: str | None = None
    area: str | None = None  # a public place (地下车库) instead of a building
    nudges: int = 0  # 催办: how often a reporter asked "什么时候修？" and the assignee was nudged
    related: str | None = None  # other tickets opened from the same message ("#3,#4")

    __table_args__ = (Index("ix_ticket_merge", "community", "intent", "building", "status"),)


class TicketReporter(SQLModel, table=True):
    """Everyone who reported the same problem (the first reporter included)."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    person: str = Field(index=True)
    text: str
    at: datetime = Field(sa_column=_ts(nullable=False))
    chat: str = "group"
    channel: str = "simulated"
    chat_ref: str | None = None
    platform_id: str | None = None
    name: str | None = None  # the reporter's display name on the platform (for people not in the community file)

    __table_args__ = (UniqueConstraint("ticket_id", "person"),)


class TicketEvent(SQLModel, table=True):
    """Append-only log of every state change: who, when, from, to, why."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = Field(sa_column=_ts(nullable=False))
    actor: str
    kind: str
    from_status: str | None = None
    to_status: str | None = None
    note: str = ""


class FollowUp(SQLModel, table=True):
    """A scheduled step for a ticket (reminder, escalation, resolution check...) or for a
    clarification (``clarify_timeout``, with ``pending_id``).

    Pending rows have ``done_at`` NULL; the sweep claims rows with ``due_at <= now`` through the
    ``(done_at, due_at)`` index, so its cost grows with the rows due, not with all open tickets.
    """

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    pending_id: int | None = None  # for a clarification that has no ticket yet
    kind: str
    due_at: datetime = Field(sa_column=_ts(nullable=False))
    generation: int = 0
    lease_until: datetime | None = Field(default=None, sa_column=_ts())
    lease_owner: str | None = None
    attempts: int = 0  # times claimed
    done_at: datetime | None = Field(default=None, sa_column=_ts())
    #: Failed runs so far; each moves ``due_at`` on by a backoff, the last one gives the row up.
    errors: int = 0
    last_error: str | None = None
    #: Set (with ``done_at``) when the row was given up after too many failures.
    failed_at: datetime | None = Field(default=None, sa_column=_ts())

    __table_args__ = (Index("ix_followup_due", "done_at", "due_at"),)


class Outbox(SQLModel, table=True):
    """A message to send. Written in the transaction that caused it, delivered after commit."""

    id: int | None = Field(default=None, primary_key=True)
    community: str
    recipient: str  # "group" or a person id
    text: str
    event: str
    ticket_id: int | None = None
    channel: str | None = None
    chat_ref: str | None = None
    reply_to: str | None = None
    buttons: str = ""  # JSON list of [label, command]
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    not_before: datetime = Field(sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    failed_at: datetime | None = Field(default=None, sa_column=_ts())
    attempts: int = 0
    last_error: str | None = None
    lease_until: datetime | None = Field(default=None, sa_column=_ts())

    __table_args__ = (Index("ix_outbox_due", "sent_at", "failed_at", "not_before"),)


class SeenMessage(SQLModel, table=True):
    """Platform message ids already handled, so a redelivery is ignored."""

    community: str = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    platform_id: str = Field(primary_key=True)
    at: datetime = Field(sa_column=_ts(nullable=False))


class Pending(SQLModel, table=True):
    """A question the bot asked and waits to be answered: ``clarify`` (which building?) or
    ``resolution`` (is it fixed?)."""

    id: int | None = Field(default=None, primary_key=True)
    community: str
    person: str
    kind: str
    ticket_id: int | None = None
    payload: str = ""  # JSON
    asked_at: datetime = Field(sa_column=_ts(nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=_ts())
    reasked: bool = False

    __table_args__ = (Index("ix_pending_person", "community", "person", "kind"),)


class Resident(SQLModel, table=True):
    """A home registered from chat (``绑定 3-2-1201``); the community file's people take precedence."""

    community: str = Field(primary_key=True)
    person: str = Field(primary_key=True)
    name: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class IdentityLink(SQLModel, table=True):
    """A platform account linked to a community person (from an invite or the community file)."""

    platform: str = Field(primary_key=True)
    platform_user_id: str = Field(primary_key=True)
    community: str = Field(primary_key=True)
    person: str = Field(index=True)
    linked_at: datetime = Field(sa_column=_ts(nullable=False))


class Invite(SQLModel, table=True):
    """A one-person invite code (deep link) for linking a platform account."""

    code: str = Field(primary_key=True)
    community: str
    person: str
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_ts())


class ChatBinding(SQLModel, table=True):
    """A platform group chat bound to a community."""

    channel: str = Field(primary_key=True)
    chat_ref: str = Field(primary_key=True)
    community: str
    bound_at: datetime = Field(sa_column=_ts(nullable=False))


class ReviewItem(SQLModel, table=True):
    """An issue-like message the classifier was not sure about, waiting for an admin's look."""

    id: int | None = Field(default=None, primary_key=True)
    community: str
    person: str
    text: str
    guess: str
    confidence: float
    at: datetime = Field(sa_column=_ts(nullable=False))
    resolved: str | None = None  # the intent an admin chose, or "none"
    message: str = ""  # the message as JSON, so that resolving the item opens the ticket as if classified so

import storage.console  # noqa: E402, F401  (satisfaction and console tables)
import storage.wechat_state  # noqa: E402, F401  (the WeChat adapters' tables)
