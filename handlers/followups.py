"""What each scheduled follow-up does when it falls due.

Every step re-checks the ticket's state first: a reminder for a ticket accepted meanwhile does
nothing, and a step whose ticket or ``Pending`` row is gone does nothing. Steps are idempotent in
effect: a step runs in the transaction that marks it done.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers import texts
from handlers.effects import Effects
from handlers.intake import open_clarified
from handlers.tickets import ask_reporters, escalate, recipients_of
from intents.model import IntentSpec
from storage.db import utc
from storage.models import FollowUp, Pending, Ticket


def run_followup(fx: Effects, row: FollowUp, spec_for: Callable[[str], IntentSpec | None]) -> None:
    if row.kind == "weekly_report":
        from handlers import weekly

        weekly.run(fx, row, spec_for)
        return
    if row.kind == "clarify_timeout":
        pending = fx.session.get(Pending, row.pending_id) if row.pending_id else None
        # Only the unanswered question this timeout was set for: a row gone, or another row that
        # got its id (another kind, or a newer question not yet expired), is left alone.
        if (
            pending is not None and pending.kind == "clarify" and pending.expires_at is not None
            and utc(pending.expires_at) <= fx.now
        ):
            open_clarified(fx, pending, None, None, None, spec_for)
        return
    ticket = fx.session.get(Ticket, row.ticket_id) if row.ticket_id else None
    if ticket is None:
        return
    spec = spec_for(ticket.intent)
    if spec is None:
        return
    kind, status = row.kind, ticket.status
    if kind == "ack_reminder" and status == "open":
        _remind(fx, ticket, spec, "已超过接单时限仍未接单")
    elif kind == "ack_escalate" and status == "open":
        escalate(fx, ticket, spec, "超时未接单")
    elif kind == "resolve_reminder" and status == "accepted":
        _remind(fx, ticket, spec, "已超过办结时限仍未完成")
    elif kind == "resolve_escalate" and status == "accepted":
        escalate(fx, ticket, spec, "超时未办结")
    elif kind == "resolution_check" and status == "resolved":
        ask_reporters(fx, ticket, spec, "", again=True)


def _remind(fx: Effects, ticket: Ticket, spec: IntentSpec, what: str) -> None:
    fx.log(ticket, "system", "reminded", ticket.status, what)
    for person in recipients_of(fx.community, ticket.assignee):
        fx.send(
            person, texts.reminder(ticket.id, spec.name, what), "reminder", ticket.id,
            deferred=True, urgent=ticket.urgent,
        )
