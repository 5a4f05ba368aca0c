"""The weekly report: a follow-up row in the database, Monday 09:00 community time, to every admin."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import LinliApp
from bot.clock import ManualClock
from bot.config import Settings
from bot.simulate import run_simulation
from jobs.weekly import KIND, ensure_weekly, next_monday
from storage.models import FollowUp
from tests.console.chat import CHAT
from tests.support import COMMUNITY, at, database_url, tick

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_next_monday_is_strictly_later_and_local():
    monday_9 = datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)
    assert next_monday(datetime(2026, 3, 3, 12, 0, tzinfo=SHANGHAI), SHANGHAI) == monday_9.astimezone(UTC)
    assert next_monday(datetime(2026, 3, 9, 8, 59, tzinfo=SHANGHAI), SHANGHAI) == monday_9.astimezone(UTC)
    assert next_monday(monday_9, SHANGHAI) == datetime(2026, 3, 16, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)


def test_weekly_report_goes_to_every_admin_on_monday_and_schedules_the_next(tmp_path):
    clock = ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # Monday 09:00 in Shanghai: the first report is next week
    app = LinliApp.build(Settings(database_url=database_url(tmp_path, "weekly.db")), [COMMUNITY], clock=clock)
    community = app.communities.all()[0]
    ensure_weekly(app.db, community, clock.now())
    ensure_weekly(app.db, community, clock.now())  # idempotent: still one row
    events = [*CHAT, tick("03-09 09:05")]
    out = io.StringIO()
    lines = io.StringIO("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    assert asyncio.run(run_simulation(app, clock, lines, out, errors=io.StringIO())) == 0
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    reports = [m for m in sent if m["event"] == "weekly_report"]
    assert [(m["to"], m["at"]) for m in reports] == [("admin1", at("03-09 09:00")), ("admin2", at("03-09 09:00"))]
    text = reports[0]["text"]
    assert text.startswith("【每周报告】正弘悦府 03-02～03-08")
    assert "新工单 4，响应率 50%，按时办结率 75%，解决率 75%，满意率 50%（2 条评价）" in text
    assert "最久未关闭：#3 照明（5号楼" in text
    assert "最需关注：5号楼" in text
    assert "/admin/figures?from=2026-03-02&to=2026-03-08&by=building" in text
    with app.db.session() as s:
        due = s.exec(select(FollowUp.due_at).where(FollowUp.kind == KIND, FollowUp.done_at.is_(None))).all()
    assert [d.replace(tzinfo=UTC) if d.tzinfo is None else d for d in due] == [
        datetime(2026, 3, 16, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)]
    app.db.dispose()
