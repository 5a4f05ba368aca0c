"""What handling one message (or one follow-up) changes, written into one open transaction.

Handlers never send: they add outbox rows, event-log rows and follow-up rows here, and the caller
commits them together. After commit the outbox is delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session

from handlers.messages import GROUP, Button
from handlers.texts import mask_phones
from jobs.deadlines import QuietHours, send_time
from storage.community import Community
from storage.models import FollowUp, Outbox, Ticket, TicketEvent


class Effects:
    """The writer for one unit of work: ``session`` is open, ``now`` is the time of the work."""

    def __init__(self, session: Session, community: Community, now: datetime) -> None:
        self.session = session
        self.community = community
        self.now = now.astimezone(UTC)
        self.quiet = QuietHours(community.quiet_hours.start, community.quiet_hours.end)
        self.sent: list[Outbox] = []

    def staff_time(self, urgent: bool, at: datetime | None = None) -> datetime:
        """When a staff notification made at ``at`` (default now) may go out: after quiet hours unless urgent."""
        return send_time(at or self.now, urgent, self.community.tz, self.quiet)

    def send(
        self,
        to: str,
        text: str,
        event: str,
        ticket: int | None = None,
        *,
        deferred: bool = False,
        urgent: bool = False,
        channel: str | None = None,
        chat_ref: str | None = None,
        reply_to: str | None = None,
        buttons: Iterable[Button] = (),
    ) -> None:
        """Queue one message. ``deferred`` messages (to staff, checks) wait for quiet hours to end
        unless ``urgent``; direct replies to the person who just wrote go at once."""
        if to == GROUP:
            text = mask_phones(text)
        row = Outbox(
            community=self.community.id,
            recipient=to,
            text=text,
            event=event,
            ticket_id=ticket,
            channel=channel,
            chat_ref=chat_ref,
            reply_to=reply_to,
            buttons=json.dumps([[b.label, b.command] for b in buttons], ensure_ascii=False) if buttons else "",
            created_at=self.now,
            not_before=self.staff_time(urgent) if deferred else self.now,
        )
        self.session.add(row)
        self.sent.append(row)

    def log(self, ticket: Ticket, actor: str, kind: str, from_status: str | None, note: str = "") -> None:
        """Append to the ticket's event log (never updated, never deleted)."""
        self.session.add(
            TicketEvent(
                ticket_id=ticket.id, at=self.now, actor=actor, kind=kind,
                from_status=from_status, to_status=ticket.status, note=note,
            )
        )

    def schedule(self, kind: str, due_at: datetime, ticket_id: int | None = None, pending_id: int | None = None) -> None:
        self.session.add(
            FollowUp(ticket_id=ticket_id, pending_id=pending_id, kind=kind, due_at=due_at.astimezone(UTC))
        )

    def retract(self, ticket_id: int | None, events: Iterable[str] = ("dispatched", "reminder", "escalated", "nudge")) -> None:
        """Withdraw the ticket's staff messages still held for quiet hours (a card for a ticket accepted,
        done, closed or given to somebody else meanwhile must not go out in the morning). They stay in the
        outbox, marked failed with the reason, never sent."""
        if ticket_id is None:
            return
        self.session.execute(
            update(Outbox)
            .where(Outbox.ticket_id == ticket_id, Outbox.sent_at.is_(None), Outbox.failed_at.is_(None),
                   Outbox.not_before > self.now, Outbox.event.in_(list(events)))
            .values(failed_at=self.now, last_error="withdrawn: the ticket moved on before quiet hours ended")
        )

    def cancel(self, ticket_id: int, kinds: Iterable[str] | None = None) -> None:
        """Retire the ticket's pending follow-ups (all, or only ``kinds``)."""
        stmt = (
            update(FollowUp)
            .where(FollowUp.ticket_id == ticket_id, FollowUp.done_at.is_(None))
            .values(done_at=self.now)
        )
        if kinds is not None:
            stmt = stmt.where(FollowUp.kind.in_(list(kinds)))
        self.session.execute(stmt)

    def cancel_pending(self, pending_id: int) -> None:
        """Retire the follow-ups waiting on a ``Pending`` row (its clarify timeout), in the
        transaction that answers or deletes it: SQLite reuses a deleted row's id, so a timeout
        left behind would fire on an unrelated row."""
        self.session.execute(
            update(FollowUp)
            .where(FollowUp.pending_id == pending_id, FollowUp.done_at.is_(None))
            .values(done_at=self.now)
        )
