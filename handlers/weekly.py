"""The Monday report to every admin: last week's figures, the oldest open tickets, the worst-served building."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import select

from console import metrics
from console.auth import public_base
from console.scope import Viewer
from handlers import texts
from handlers.effects import Effects
from intents.model import IntentSpec
from jobs.weekly import KIND, next_monday
from storage.db import utc
from storage.models import FollowUp, Ticket


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def summary(fx: Effects, spec_for: Callable[[str], IntentSpec | None]) -> str:
    c = fx.community
    viewer = Viewer(c, c.admins[0])
    today = fx.now.astimezone(c.tz).date()
    end = today - timedelta(days=today.weekday() + 1)  # last Sunday
    start = end - timedelta(days=6)
    found = metrics.report(fx.session, viewer, spec_for, start, end, by="building")
    t = found["total"]
    lines = [
        f"【每周报告】{c.name} {start:%m-%d}～{end:%m-%d}",
        f"新工单 {t['tickets']}，响应率 {_pct(t['response_rate'])}，按时办结率 {_pct(t['on_time_rate'])}，"
        f"解决率 {_pct(t['resolution_rate'])}，满意率 {_pct(t['satisfaction_rate'])}（{t['satisfaction_answers']} 条评价），"
        f"升级 {t['escalations']}，催办 {t['nudges']}。",
    ]
    oldest = fx.session.exec(
        select(Ticket).where(Ticket.community == c.id, Ticket.status != "closed").order_by(Ticket.opened_at).limit(3)
    ).all()
    if oldest:
        parts = []
        for ticket in oldest:
            spec = spec_for(ticket.intent)
            days = (fx.now - utc(ticket.opened_at)).days
            parts.append(f"#{ticket.id} {spec.name if spec else ticket.intent}"
                         f"（{texts.place(ticket.building, ticket.unit, ticket.room)}，{days} 天，{c.person_name(ticket.assignee)}）")
        lines.append("最久未关闭：" + "；".join(parts))
    rated = [r for r in found["rows"] if r["tickets"] and r["key"]]
    if rated:
        worst = min(rated, key=lambda r: (r["on_time_rate"] or 0, r["response_rate"] or 0, -r["tickets"]))
        lines.append(f"最需关注：{worst['label']}（{worst['tickets']} 单，按时办结率 {_pct(worst['on_time_rate'])}，"
                     f"响应率 {_pct(worst['response_rate'])}）")
    lines.append(f"详情见管理后台：{public_base()}/admin/figures?from={start}&to={end}&by=building")
    return "\n".join(lines)


def run(fx: Effects, row: FollowUp, spec_for: Callable[[str], IntentSpec | None]) -> None:
    """Send the report to every admin and schedule next Monday's."""
    text = summary(fx, spec_for)
    for admin in fx.community.admins:
        fx.send(admin, text, "weekly_report")
    fx.schedule(KIND, next_monday(fx.now, fx.community.tz), pending_id=row.pending_id)
