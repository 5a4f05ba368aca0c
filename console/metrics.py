"""The figures of the console, the JSON API and the weekly report, by SQL over the event log.

One query reads, per ticket of the period, what its event log says (``TicketEvent``): the first
``accepted``, the first ``done`` / close, how often it was ``reopened``, ``escalated`` and ``nudged``;
a second reads the satisfaction answers. The deadlines each ticket had (its intent's ``ack`` and
``resolve``, or the urgent ones) are applied to those facts, and the tickets are grouped.

Definitions (every rate is over the tickets **opened** in the period and seen by the viewer):

- ``tickets``: tickets opened in the period;
- ``response_rate`` 响应率: accepted within ``ack`` of dispatch ÷ tickets;
- ``on_time_rate`` 按时办结率: first marked done (or closed) within ``resolve`` of dispatch ÷ tickets;
- ``resolution_rate`` 解决率: closed now ÷ tickets;
- ``satisfaction_rate`` 满意率: (满意 + 基本满意) ÷ satisfaction answers;
- ``median_accept_minutes`` / ``p90_accept_minutes``: dispatch → first acceptance, of accepted tickets;
- ``median_close_hours`` / ``p90_close_hours``: report → close, of closed tickets;
- ``reopen_rate``: tickets reopened at least once ÷ tickets; ``escalations``, ``nudges``: events in the log.

Dispatch is the report's time, moved to the end of quiet hours for a non-urgent ticket (as the deadlines
are). Percentiles interpolate linearly between the nearest ranks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, extract, func
from sqlmodel import select

from console.scope import Viewer, grid_of_ticket, ticket_clause
from intents.model import IntentSpec
from jobs.deadlines import QuietHours, deadlines
from storage.console import Satisfaction
from storage.models import Ticket, TicketEvent

GROUPS = ("community", "building", "grid", "type", "assignee", "week")

FIGURES = (
    "tickets", "response_rate", "on_time_rate", "resolution_rate", "satisfaction_rate",
    "median_accept_minutes", "p90_accept_minutes", "median_close_hours", "p90_close_hours",
    "reopen_rate", "escalations", "nudges", "closed", "satisfaction_answers",
)

#: Chinese names of the figures, for the pages and the CSV header.
FIGURE_NAMES = {
    "tickets": "工单数", "response_rate": "响应率", "on_time_rate": "按时办结率", "resolution_rate": "解决率",
    "satisfaction_rate": "满意率", "median_accept_minutes": "接单用时中位数(分钟)",
    "p90_accept_minutes": "接单用时P90(分钟)", "median_close_hours": "办结用时中位数(小时)",
    "p90_close_hours": "办结用时P90(小时)", "reopen_rate": "重开率", "escalations": "升级次数",
    "nudges": "催办次数", "closed": "已关闭", "satisfaction_answers": "评价数",
}
GROUP_NAMES = {"community": "小区", "building": "楼栋", "grid": "网格", "type": "类型", "assignee": "处理人",
               "week": "周"}

SpecFor = Callable[[str], IntentSpec | None]


@dataclass(slots=True)
class Facts:
    """What the event log says about one ticket, with its deadlines applied (computed once per ticket)."""

    id: int
    intent: str
    building: str | None
    area: str | None
    assignee: str
    local_day: int  # the local date of the report (a proleptic ordinal)
    responded: bool  # accepted within ack of dispatch
    on_time: bool  # first done / close within resolve of dispatch
    accept_minutes: float | None  # dispatch → first acceptance
    close_hours: float | None  # report → close, for a closed ticket
    reopened: bool
    escalations: int
    nudges: int
    satisfied: int = 0
    answers: int = 0


def period(start: date | None, end: date | None, viewer: Viewer, today: date) -> tuple[date, date]:
    """The period as local dates, both ends included (default: the last 30 days)."""
    end = end or today
    start = start or end - timedelta(days=29)
    return (start, end) if start <= end else (end, start)


def _bounds(start: date, end: date, viewer: Viewer) -> tuple[datetime, datetime]:
    tz = viewer.community.tz
    return (datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz))


def _epoch(dialect: str, column):
    """Seconds since 1970 (UTC) computed by the database: no timestamp parsing per ticket in Python."""
    if dialect == "sqlite":  # naive UTC text
        return (func.julianday(column) - 2440587.5) * 86400.0
    return extract("epoch", column)


_EPOCH_DAY = date(1970, 1, 1).toordinal()
SLACK = 0.001  # seconds


class LocalClock:
    """Quiet hours and local dates for UTC epoch seconds, with the zone's offset cached per hour (the same rules
    as :func:`jobs.deadlines.send_time`, without a time-zone conversion per ticket)."""

    def __init__(self, tz, quiet: QuietHours) -> None:
        self.tz = tz
        self.start = quiet.start.hour * 60 + quiet.start.minute
        self.end = quiet.end.hour * 60 + quiet.end.minute
        self._offsets: dict[int, float] = {}

    def fixed_between(self, lo: datetime, hi: datetime) -> None:
        """Use one offset when the zone keeps it over the period (checked every 6 hours: Asia/Shanghai always)."""
        offsets = {self.offset(t) for t in range(int(lo.timestamp()) - 86400, int(hi.timestamp()) + 2 * 86400, 6 * 3600)}
        if len(offsets) == 1:
            fixed = offsets.pop()
            self.offset = lambda _epoch: fixed  # type: ignore[method-assign]

    def offset(self, epoch: float) -> float:
        hour = int(epoch // 3600)
        found = self._offsets.get(hour)
        if found is None:
            at = datetime.fromtimestamp(hour * 3600, UTC).astimezone(self.tz)
            found = self._offsets[hour] = at.utcoffset().total_seconds()
        return found

    def quiet(self, minute: float) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def dispatch(self, epoch: float, urgent: bool) -> float:
        """When a ticket reported at ``epoch`` was dispatched: at the end of quiet hours unless urgent."""
        if urgent:
            return epoch
        local = epoch + self.offset(epoch)
        minute = (local % 86400) // 60
        if not self.quiet(minute):
            return epoch
        end_local = local - local % 86400 + self.end * 60 + (86400 if self.start > self.end and minute >= self.start else 0)
        return end_local - self.offset(end_local - self.offset(epoch))

    def local_day(self, epoch: float) -> int:
        return int((epoch + self.offset(epoch)) // 86400) + _EPOCH_DAY


def facts(session, viewer: Viewer, start: date, end: date, spec_for: SpecFor) -> list[Facts]:
    """One SQL pass over the tickets opened in the period and their event log, one more over satisfaction;
    then each ticket's deadlines are applied once."""
    lo, hi = _bounds(start, end, viewer)
    ev = TicketEvent
    dialect = session.get_bind().dialect.name
    seconds = lambda column: _epoch(dialect, column)  # noqa: E731
    count = lambda kind: func.coalesce(func.sum(case((ev.kind == kind, 1), else_=0)), 0)  # noqa: E731
    query = (
        select(
            Ticket.id, Ticket.intent, Ticket.building, Ticket.area, Ticket.assignee, Ticket.urgent, Ticket.status,
            seconds(Ticket.opened_at), seconds(Ticket.closed_at),
            seconds(func.min(case((ev.kind == "accepted", ev.at)))),
            seconds(func.min(case((ev.kind.in_(("done", "closed", "confirmed_fixed")), ev.at)))),
            count("reopened"), count("escalated"), count("nudged"),
        )
        .select_from(Ticket)
        .join(ev, ev.ticket_id == Ticket.id, isouter=True)
        .where(ticket_clause(viewer), Ticket.opened_at >= lo, Ticket.opened_at < hi)
        .group_by(Ticket.id)
        .order_by(Ticket.id)
    )
    good = func.sum(case((Satisfaction.answer.in_(("satisfied", "basic")), 1), else_=0))
    rated = {
        tid: (int(g or 0), int(n or 0))
        for tid, g, n in session.execute(
            select(Satisfaction.ticket_id, good, func.count(Satisfaction.answer))
            .join(Ticket, Ticket.id == Satisfaction.ticket_id)
            .where(ticket_clause(viewer), Ticket.opened_at >= lo, Ticket.opened_at < hi,
                   Satisfaction.answer.is_not(None))
            .group_by(Satisfaction.ticket_id)
        ).all()
    }
    c = viewer.community
    clock = LocalClock(c.tz, QuietHours(c.quiet_hours.start, c.quiet_hours.end))
    clock.fixed_between(lo, hi)
    limits: dict[tuple[str, bool], tuple[float, float] | None] = {}
    found = []
    for tid, intent, building, area, assignee, urgent, status, opened, closed, accepted, finished, reopens, \
            escalations, nudges in session.execute(query):
        urgent = bool(urgent)
        if dialect != "sqlite":  # PostgreSQL's extract() gives Decimal
            opened, closed, accepted, finished = (None if v is None else float(v)
                                                  for v in (opened, closed, accepted, finished))
        if (intent, urgent) not in limits:
            spec = spec_for(intent)
            limits[intent, urgent] = tuple(d.total_seconds() for d in deadlines(spec.ack, spec.resolve, urgent)) \
                if spec is not None and spec.ack is not None and spec.resolve is not None else None
        limit = limits[intent, urgent]
        start_at = clock.dispatch(opened, urgent)
        g, n = rated.get(tid, (0, 0))
        # SLACK: a deadline met to the second is met, whatever rounding the database's epoch arithmetic did
        found.append(Facts(
            tid, intent, building, area, assignee, clock.local_day(opened),
            limit is not None and accepted is not None and accepted <= start_at + limit[0] + SLACK,
            limit is not None and finished is not None and finished <= start_at + limit[1] + SLACK,
            max(0.0, (accepted - start_at) / 60) if accepted is not None else None,
            (closed - opened) / 3600 if status == "closed" and closed is not None else None,
            reopens > 0, int(escalations), int(nudges), g, n,
        ))
    return found


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _num(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None


def figures(rows: Iterable[Facts]) -> dict:
    """The figures of one group of tickets (one pass)."""
    n = responded = on_time = reopened = escalations = nudges = good = answers = 0
    accept_minutes: list[float] = []
    close_hours: list[float] = []
    for f in rows:
        n += 1
        responded += f.responded
        on_time += f.on_time
        reopened += f.reopened
        escalations += f.escalations
        nudges += f.nudges
        good += f.satisfied
        answers += f.answers
        if f.accept_minutes is not None:
            accept_minutes.append(f.accept_minutes)
        if f.close_hours is not None:
            close_hours.append(f.close_hours)
    return {
        "tickets": n,
        "response_rate": _rate(responded, n),
        "on_time_rate": _rate(on_time, n),
        "resolution_rate": _rate(len(close_hours), n),
        "satisfaction_rate": _rate(good, answers),
        "median_accept_minutes": _num(percentile(accept_minutes, 0.5)),
        "p90_accept_minutes": _num(percentile(accept_minutes, 0.9)),
        "median_close_hours": _num(percentile(close_hours, 0.5), 2),
        "p90_close_hours": _num(percentile(close_hours, 0.9), 2),
        "reopen_rate": _rate(reopened, n),
        "escalations": escalations,
        "nudges": nudges,
        "closed": len(close_hours),
        "satisfaction_answers": answers,
    }


def key_of(f: Facts, by: str, viewer: Viewer, spec_for: SpecFor) -> tuple[str, str]:
    """(key, label) of a ticket's group: labels are what people read (names, never ids)."""
    c = viewer.community
    if by == "community":
        return c.id, c.name
    if by == "building":
        if f.building:
            return f.building, f"{f.building}{'座' if f.building.isalpha() else '号楼'}"
        return (f.area or ""), (f.area or "未说明")
    if by == "grid":
        gid = grid_of_ticket(c, f.building, f.area)
        return gid, c.grids[gid].name or gid
    if by == "type":
        spec = spec_for(f.intent)
        return f.intent, spec.name if spec else f.intent
    if by == "assignee":
        return f.assignee, c.person_name(f.assignee)
    raise ValueError(f"unknown grouping {by!r}: one of {', '.join(GROUPS)}")


def grouped(rows: list[Facts], by: str, viewer: Viewer, spec_for: SpecFor) -> list[dict]:
    groups: dict[str, list[Facts]] = defaultdict(list)
    labels: dict[str, str] = {}
    if by == "week":
        weeks: dict[int, tuple[str, str]] = {}
        for f in rows:
            found = weeks.get(f.local_day)
            if found is None:
                local = date.fromordinal(f.local_day)
                monday = local - timedelta(days=local.weekday())
                found = weeks[f.local_day] = (monday.isoformat(), f"{monday:%m-%d} 周")
            groups[found[0]].append(f)
            labels[found[0]] = found[1]
    else:
        cache: dict[tuple, tuple[str, str]] = {}
        for f in rows:
            probe = (f.building, f.area, f.intent, f.assignee)
            if probe not in cache:
                cache[probe] = key_of(f, by, viewer, spec_for)
            key, label = cache[probe]
            groups[key].append(f)
            labels[key] = label
    ordered = sorted(groups, key=(lambda k: k) if by == "week" else (lambda k: (-len(groups[k]), k)))
    if by == "building":
        ordered = sorted(groups, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    return [{"key": k, "label": labels[k], **figures(groups[k])} for k in ordered]


def report(session, viewer: Viewer, spec_for: SpecFor, start: date, end: date, by: str = "community") -> dict:
    """Everything the figures page and ``/admin/api/metrics`` show: the total, the groups, the weekly trend."""
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by!r}: one of {', '.join(GROUPS)}")
    rows = facts(session, viewer, start, end, spec_for)
    return {
        "community": viewer.community.id,
        "from": start.isoformat(), "to": end.isoformat(), "by": by,
        "total": figures(rows),
        "rows": grouped(rows, by, viewer, spec_for),
        "weeks": grouped(rows, "week", viewer, spec_for),
    }
