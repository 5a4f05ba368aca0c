"""Pure time rules: quiet hours and the follow-up plan of a dispatched ticket.

No I/O and no clock: every function takes the time it reasons about, so tests pin it down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Urgent tickets use these deadlines whatever the intent says.
URGENT_ACK = timedelta(minutes=15)
URGENT_RESOLVE = timedelta(hours=4)

#: Resolution checks are asked again this long after "done", then no more.
RESOLUTION_RECHECKS = (timedelta(hours=24), timedelta(hours=72))

#: How long the bot waits for the answer to "which building?".
CLARIFY_WAIT = timedelta(minutes=30)

#: A report of the same intent in the same building within this window joins the open ticket.
MERGE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time = time(22, 0)
    end: time = time(7, 30)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def after_quiet_hours(at: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """``at`` itself when it is outside quiet hours, else the moment quiet hours end (in UTC)."""
    local = at.astimezone(tz)
    if not quiet.contains(local.timetz().replace(tzinfo=None)):
        return at.astimezone(UTC)
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end = end + timedelta(days=1)
    # Re-localise to get the right offset across DST changes.
    end = datetime.combine(end.date(), quiet.end, tzinfo=tz)
    return end.astimezone(UTC)


def send_time(at: datetime, urgent: bool, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """When a staff notification caused at ``at`` may be sent."""
    return at.astimezone(UTC) if urgent else after_quiet_hours(at, tz, quiet)


@dataclass(frozen=True, slots=True)
class Step:
    kind: str
    due_at: datetime


def deadlines(ack: timedelta, resolve: timedelta, urgent: bool) -> tuple[timedelta, timedelta]:
    return (URGENT_ACK, URGENT_RESOLVE) if urgent else (ack, resolve)


def dispatch_plan(
    dispatched_at: datetime, ack: timedelta, resolve: timedelta, urgent: bool,
    defer: Callable[[datetime], datetime] = lambda t: t,
) -> list[Step]:
    """Follow-ups of one dispatch: remind at the deadline, escalate when the same span has passed again.

    Deadlines run from dispatch, not from acceptance. ``defer`` moves a step out of quiet hours
    (identity for urgent tickets), and the escalation counts its span from the (deferred) reminder,
    so staff always get the full span after a reminder before it goes up a level. Each step checks
    the ticket's state when it fires (``ack_*`` only act on open tickets, ``resolve_*`` on accepted).
    """
    ack, resolve = deadlines(ack, resolve, urgent)
    ack_reminder = defer(dispatched_at + ack)
    resolve_reminder = defer(dispatched_at + resolve)
    return [
        Step("ack_reminder", ack_reminder),
        Step("ack_escalate", defer(ack_reminder + ack)),
        Step("resolve_reminder", resolve_reminder),
        Step("resolve_escalate", defer(resolve_reminder + resolve)),
    ]


def resolution_plan(done_at: datetime, defer: Callable[[datetime], datetime] = lambda t: t) -> list[Step]:
    """Ask the reporters again 24 h and 72 h after "done" (out of quiet hours), then stop asking."""
    return [Step("resolution_check", defer(done_at + delay)) for delay in RESOLUTION_RECHECKS]
