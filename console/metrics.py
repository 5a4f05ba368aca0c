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
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func
from sqlmodel import select

from console.scope import Viewer, grid_of_ticket, ticket_clause
from intents.model import IntentSpec
from jobs.deadlines import QuietHours, deadlines, send_time
from storage.console import Satisfaction
from storage.db import utc
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


@dataclass(frozen=True, slots=True)
class Facts:
    """What the event log says about one ticket."""

    id: int
    intent: str
    building: str | None
    area: str | None
    assignee: str
    urgent: bool
    status: str
    opened_at: datetime
    closed_at: datetime | None
    first_accepted: datetime | None
    first_finished: datetime | None
    reopens: int
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


def facts(session, viewer: Viewer, start: date, end: date) -> list[Facts]:
    """One SQL pass over the tickets opened in the period and their event log, one more over satisfaction."""
    lo, hi = _bounds(start, end, viewer)
    ev = TicketEvent
    count = lambda kind: func.coalesce(func.sum(case((ev.kind == kind, 1), else_=0)), 0)  # noqa: E731
    query = (
        select(
            Ticket.id, Ticket.intent, Ticket.building, Ticket.area, Ticket.assignee, Ticket.urgent, Ticket.status,
            Ticket.opened_at, Ticket.closed_at,
            func.min(case((ev.kind == "accepted", ev.at))),
            func.min(case((ev.kind.in_(("done", "closed", "confirmed_fixed")), ev.at))),
            count("reopened"), count("escalated"), count("nudged"),
        )
        .select_from(Ticket)
        .join(ev, ev.ticket_id == Ticket.id, isouter=True)
        .where(ticket_clause(viewer), Ticket.opened_at >= lo, Ticket.opened_at < hi)
        .group_by(Ticket.id)
        .order_by(Ticket.id)
    )
    good = func.sum(case((Satisfaction.answer.in_(("satisfied", "basic")), 1), else_=0))
    rated = dict(
        (tid, (int(g or 0), int(n or 0)))
        for tid, g, n in session.execute(
            select(Satisfaction.ticket_id, good, func.count(Satisfaction.answer))
            .join(Ticket, Ticket.id == Satisfaction.ticket_id)
            .where(ticket_clause(viewer), Ticket.opened_at >= lo, Ticket.opened_at < hi,
                   Satisfaction.answer.is_not(None))
            .group_by(Satisfaction.ticket_id)
        ).all()
    )
    found = []
    for row in session.execute(query).all():
        g, n = rated.get(row[0], (0, 0))
        found.append(Facts(
            row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], utc(row[7]), utc(row[8]), utc(row[9]),
            utc(row[10]), int(row[11]), int(row[12]), int(row[13]), g, n,
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


def figures(rows: Iterable[Facts], viewer: Viewer, spec_for: SpecFor) -> dict:
    """The figures of one group of tickets."""
    c = viewer.community
    quiet = QuietHours(c.quiet_hours.start, c.quiet_hours.end)
    rows = list(rows)
    responded = on_time = closed = reopened = escalations = nudges = good = answers = 0
    accept_minutes: list[float] = []
    close_hours: list[float] = []
    for f in rows:
        spec = spec_for(f.intent)
        start = send_time(f.opened_at, f.urgent, c.tz, quiet)
        if spec is not None and spec.ack is not None and spec.resolve is not None:
            ack, resolve = deadlines(spec.ack, spec.resolve, f.urgent)
            responded += f.first_accepted is not None and f.first_accepted <= start + ack
            on_time += f.first_finished is not None and f.first_finished <= start + resolve
        if f.first_accepted is not None:
            accept_minutes.append(max(0.0, (f.first_accepted - start).total_seconds() / 60))
        if f.status == "closed" and f.closed_at is not None:
            closed += 1
            close_hours.append((f.closed_at - f.opened_at).total_seconds() / 3600)
        reopened += f.reopens > 0
        escalations += f.escalations
        nudges += f.nudges
        good += f.satisfied
        answers += f.answers
    n = len(rows)
    return {
        "tickets": n,
        "response_rate": _rate(responded, n),
        "on_time_rate": _rate(on_time, n),
        "resolution_rate": _rate(closed, n),
        "satisfaction_rate": _rate(good, answers),
        "median_accept_minutes": _num(percentile(accept_minutes, 0.5)),
        "p90_accept_minutes": _num(percentile(accept_minutes, 0.9)),
        "median_close_hours": _num(percentile(close_hours, 0.5), 2),
        "p90_close_hours": _num(percentile(close_hours, 0.9), 2),
        "reopen_rate": _rate(reopened, n),
        "escalations": escalations,
        "nudges": nudges,
        "closed": closed,
        "satisfaction_answers": answers,
    }


def week_of(at: datetime, viewer: Viewer) -> date:
    local = at.astimezone(viewer.community.tz).date()
    return local - timedelta(days=local.weekday())


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
    if by == "week":
        monday = week_of(f.opened_at, viewer)
        return monday.isoformat(), f"{monday:%m-%d} 周"
    raise ValueError(f"unknown grouping {by!r}: one of {', '.join(GROUPS)}")


def grouped(rows: list[Facts], by: str, viewer: Viewer, spec_for: SpecFor) -> list[dict]:
    groups: dict[str, list[Facts]] = defaultdict(list)
    labels: dict[str, str] = {}
    for f in rows:
        key, label = key_of(f, by, viewer, spec_for)
        groups[key].append(f)
        labels[key] = label
    ordered = sorted(groups, key=(lambda k: k) if by == "week" else (lambda k: (-len(groups[k]), k)))
    if by == "building":
        ordered = sorted(groups, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    return [{"key": k, "label": labels[k], **figures(groups[k], viewer, spec_for)} for k in ordered]


def report(session, viewer: Viewer, spec_for: SpecFor, start: date, end: date, by: str = "community") -> dict:
    """Everything the figures page and ``/admin/api/metrics`` show: the total, the groups, the weekly trend."""
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by!r}: one of {', '.join(GROUPS)}")
    rows = facts(session, viewer, start, end)
    return {
        "community": viewer.community.id,
        "from": start.isoformat(), "to": end.isoformat(), "by": by,
        "total": figures(rows, viewer, spec_for),
        "rows": grouped(rows, by, viewer, spec_for),
        "weeks": grouped(rows, "week", viewer, spec_for),
    }
