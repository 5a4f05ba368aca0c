"""Deliver outbox rows through the channel that can reach each recipient, after commit.

At least once: a row is marked sent only after the channel accepted it; a crash in between sends
it again after restart (the row id is the idempotency key). Failed sends back off (from the time
of the failure) and retry; nothing is dropped silently. A row the channel accepted is never sent
again by this process, even when writing ``sent_at`` fails (a locked database): the write is kept
and retried on the next pass.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, update
from sqlmodel import select

from bot.channels.base import Channel, DeliveryError, RecipientUnreachable
from handlers.messages import Button, OutgoingMessage
from storage.db import Database, now_utc, utc
from storage.models import Outbox

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=1)
#: Tries (10 minutes apart) before a message nobody can deliver is given up and the admins are told.
UNREACHABLE_TRIES = 3
MAX_BACKOFF = timedelta(hours=1)


_FREE = or_(Outbox.lease_until.is_(None), Outbox.lease_until < bindparam("now"))
#: Built once; only the parameters change between sweeps.
_DUE_ROWS = (
    select(Outbox)
    .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None), Outbox.not_before <= bindparam("now"), _FREE)
    .order_by(Outbox.not_before, Outbox.id)
    .limit(bindparam("limit"))
)
_LEASE_ROW = (
    update(Outbox)
    .where(Outbox.id == bindparam("row_id"), Outbox.sent_at.is_(None), _FREE)
    .values(lease_until=bindparam("until"))
)


def to_message(row: Outbox) -> OutgoingMessage:
    buttons = tuple(Button(label, command) for label, command in json.loads(row.buttons)) if row.buttons else ()
    return OutgoingMessage(
        id=row.id, community=row.community, to=row.recipient, text=row.text, event=row.event,
        ticket=row.ticket_id, at=utc(row.not_before), channel=row.channel, chat_ref=row.chat_ref,
        reply_to=row.reply_to, buttons=buttons,
    )


class Deliverer:
    """Claims due outbox rows and hands them to channels."""

    def __init__(
        self, db: Database, channels: Sequence[Channel], admins_of: Callable[[str], list[str]] = lambda c: [],
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.db = db
        self.channels = channels
        self.admins_of = admins_of
        #: The current time: a backoff counts from the failure, not from the start of a long pass.
        self.clock = clock
        #: Rows a channel accepted whose ``sent_at`` could not be written yet: row id → time sent.
        self.unrecorded: dict[int, datetime] = {}

    def pick(self, row: Outbox) -> Channel | None:
        ordered = sorted(self.channels, key=lambda ch: ch.name != row.channel)
        for channel in ordered:
            if channel.can_reach(row.community, row.recipient, row.chat_ref):
                return channel
        return None

    def claim(self, now: datetime, limit: int = 200) -> list[Outbox]:
        with self.db.session() as s:
            rows = list(s.exec(_DUE_ROWS, params={"now": now, "limit": limit}).all())
            claimed = []
            for row in rows:
                result = s.execute(_LEASE_ROW, {"row_id": row.id, "now": now, "until": now + LEASE})
                if result.rowcount == 1:
                    claimed.append(row)
        return claimed

    async def deliver_due(self, now: datetime) -> int:
        """Send every due row once; returns how many were sent."""
        self._record_unrecorded()
        sent = 0
        for row in self.claim(now):
            if row.id in self.unrecorded:
                continue  # already sent; only its bookkeeping is late
            channel = self.pick(row)
            if channel is None:
                # A link may still be made (an invite redeemed); after a few tries, give up and say so.
                give_up = row.attempts + 1 >= UNREACHABLE_TRIES
                self._failed(row.id, f"no channel can reach {row.recipient}", retry_after=600, permanent=give_up)
                if give_up:
                    self._tell_admins(row, self.clock())
                continue
            try:
                await channel.send(to_message(row))
            except RecipientUnreachable as exc:
                self._failed(row.id, str(exc), permanent=True)
            except DeliveryError as exc:
                self._failed(row.id, str(exc), retry_after=exc.retry_after)
            except Exception as exc:  # a channel bug must not stop the others
                log.exception("delivery of outbox row %s failed", row.id)
                self._failed(row.id, repr(exc))
            else:
                self._sent(row.id, self.clock())
                sent += 1
        return sent

    def _sent(self, row_id: int, at: datetime) -> None:
        """Record a send the platform accepted. Never raises: a failed write is kept in
        ``unrecorded`` (so the row is not sent again) and retried on the next pass."""
        try:
            with self.db.session() as s:
                s.execute(update(Outbox).where(Outbox.id == row_id).values(sent_at=at, lease_until=None))
        except Exception:
            log.exception("outbox row %s was sent but could not be marked sent; trying again on the next pass", row_id)
            self.unrecorded[row_id] = at
        else:
            self.unrecorded.pop(row_id, None)

    def _record_unrecorded(self) -> None:
        for row_id, at in list(self.unrecorded.items()):
            self._sent(row_id, at)

    def _failed(self, row_id: int, error: str, retry_after: float | None = None, permanent: bool = False) -> None:
        """Record a failed send; the backoff counts from now. A failed write leaves the lease to
        run out, after which the row is tried again."""
        try:
            self._record_failure(row_id, self.clock(), error, retry_after, permanent)
        except Exception:
            log.exception("the failed delivery of outbox row %s could not be recorded", row_id)
        log.warning("outbox row %s not delivered (%s)", row_id, error)

    def _record_failure(
        self, row_id: int, now: datetime, error: str, retry_after: float | None, permanent: bool
    ) -> None:
        with self.db.session() as s:
            row = s.get(Outbox, row_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error[:500]
            row.lease_until = None
            if permanent:
                row.failed_at = now
            else:
                backoff = timedelta(seconds=retry_after) if retry_after else min(
                    timedelta(seconds=15 * 2 ** min(row.attempts - 1, 10)), MAX_BACKOFF
                )
                row.not_before = now + backoff
            s.add(row)

    def _tell_admins(self, row: Outbox, now: datetime) -> None:
        """Queue a notice to the admins about a message no channel could deliver (never about a
        notice itself, so this cannot loop)."""
        if row.event == "undeliverable":
            return
        what = f"工单 #{row.ticket_id} 的" if row.ticket_id else ""
        text = f"【无法送达】{what}消息发不到 {row.recipient}（没有可用的聊天渠道绑定），请联系本人：\n{row.text}"
        with self.db.session() as s:
            admins = self.admins_of(row.community)
            for admin in admins:
                if admin != row.recipient:
                    s.add(Outbox(community=row.community, recipient=admin, text=text, event="undeliverable",
                                 ticket_id=row.ticket_id, created_at=now, not_before=now))

    def next_due(self) -> datetime | None:
        with self.db.session() as s:
            return utc(
                s.exec(
                    select(func.min(Outbox.not_before)).where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
                ).one()
            )
