"""Channel state of the WeChat Official Account / WeCom adapters.

- :class:`WeChatWindow`: per resident (openid) the time of their last message and how many
  customer-service messages were sent since. WeChat allows customer-service messages only within
  48 h of the resident's last message, and only a limited number of them (errors 45015 / 45047).
- :class:`WeChatQueued`: a message that could not be delivered (window closed, no template): kept
  here and sent when the resident writes again. The admins are told when it is queued.
- :class:`WeChatDelivery`: outbox rows already delivered by these channels, so a redelivery of the
  same outbox row (a crash between send and commit) is not sent twice.

All datetimes are stored in UTC (see ``storage.db.utc``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = True) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class WeChatWindow(SQLModel, table=True):
    """The customer-service window of one resident of an Official Account."""

    __tablename__ = "wechat_window"

    community: str = Field(primary_key=True)
    openid: str = Field(primary_key=True)
    last_inbound_at: datetime = Field(sa_column=_ts(nullable=False))
    cs_sent: int = 0  # customer-service messages sent since ``last_inbound_at``
    closed: bool = False  # WeChat answered 45015 / 45047 since ``last_inbound_at``


class WeChatQueued(SQLModel, table=True):
    """A message waiting for the resident's next message (the 48 h window was closed)."""

    __tablename__ = "wechat_queued"

    id: int | None = Field(default=None, primary_key=True)
    community: str
    openid: str
    recipient: str  # the person id (or ``wx:<openid>``) of the outbox row
    outbox_id: int | None = None
    event: str
    ticket_id: int | None = None
    text: str
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    attempts: int = 0

    __table_args__ = (Index("ix_wechat_queued_pending", "community", "openid", "sent_at"),)


class WeChatDelivery(SQLModel, table=True):
    """An outbox row already handled by a WeChat / WeCom channel (sent, or queued)."""

    __tablename__ = "wechat_delivery"

    channel: str = Field(primary_key=True)
    outbox_id: int = Field(primary_key=True)
    how: str  # "custom" | "template" | "queued" | "app"
    at: datetime = Field(sa_column=_ts(nullable=False))


TABLES = [WeChatWindow.__table__, WeChatQueued.__table__, WeChatDelivery.__table__]


def create_tables(engine) -> None:
    """Create this module's tables if missing (the app's ``create_all`` normally does it)."""
    SQLModel.metadata.create_all(engine, tables=TABLES)
