"""The neutral messages every channel speaks.

A channel adapter (Telegram, WeChat, the simulator) turns a platform event into one
:class:`IncomingMessage` and hands it to the core; the core answers by writing
:class:`OutgoingMessage` rows to the outbox, which the channel that owns the recipient
delivers. Nothing in here knows which platform it serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ChatKind = Literal["group", "private"]

#: ``OutgoingMessage.to`` for "the group chat the conversation came from".
GROUP = "group"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a person, as the core sees it.

    ``sender`` is a person id of the community file, or, for somebody the community does not
    know yet, a stable id made by the channel (``"tg:12345"``, ``"wx:oABC..."``).
    ``platform_id`` is the platform's message id: a second delivery of the same id is ignored.
    ``chat_ref`` is the platform's chat id (a Telegram group id), so replies go back there.
    ``sender_name`` is the display name the platform gives (shown to staff for people not in the
    community file); ``reply_to`` the quoted message's platform id ("+1" under a report joins it).
    """

    community: str
    chat: ChatKind
    sender: str
    text: str
    at: datetime
    platform_id: str | None = None
    channel: str = "simulated"
    chat_ref: str | None = None
    sender_name: str | None = None
    location_hint: str | None = None
    #: the platform id of the message this one quotes (a reply in a group), in ``platform_id``'s form
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A button a channel may render; pressing it is the same as sending ``command``."""

    label: str
    command: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message the bot sends, read from the outbox.

    ``to`` is :data:`GROUP` (the group chat ``chat_ref`` on ``channel``) or a person id.
    ``id`` is the outbox row id: the idempotency key of the delivery.
    ``reply_to`` is the platform message id this answers, when there is one.
    """

    id: int
    community: str
    to: str
    text: str
    event: str
    ticket: int | None
    at: datetime
    channel: str | None = None
    chat_ref: str | None = None
    reply_to: str | None = None
    buttons: tuple[Button, ...] = field(default_factory=tuple)
