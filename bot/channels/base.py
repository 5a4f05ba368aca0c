"""What every channel adapter provides to the application.

A channel translates platform events into :class:`~handlers.messages.IncomingMessage` (and hands
them to ``LinliApp.submit``) and delivers :class:`~handlers.messages.OutgoingMessage` rows.
It holds no business rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from handlers.messages import OutgoingMessage

if TYPE_CHECKING:  # pragma: no cover
    from bot.app import LinliApp


class DeliveryError(Exception):
    """Sending failed; the outbox row stays pending and is retried later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecipientUnreachable(DeliveryError):
    """The platform refuses to deliver to this person (e.g. they never started the bot).

    The row is not retried on this channel; the application falls back (group mention, admins told).
    """


class Channel(ABC):
    """A platform adapter: lifecycle, reachability and delivery."""

    #: Short name stored with messages and outbox rows ("telegram", "wechat", "wecom", "simulated").
    name: str

    async def start(self, app: LinliApp) -> None:  # noqa: B027 - optional hook
        """Connect to the platform and start feeding ``app.submit``."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving and release the platform's resources."""

    @abstractmethod
    def can_reach(self, community: str, to: str, chat_ref: str | None) -> bool:
        """Whether this channel can deliver to ``to`` (a person id or ``"group"``) of ``community``."""

    @abstractmethod
    async def send(self, message: OutgoingMessage) -> None:
        """Deliver one message or raise :class:`DeliveryError`."""
