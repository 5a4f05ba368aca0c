"""Quiet hours and follow-up plans are pure functions of (rule, time zone, time)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.deadlines import QuietHours, after_quiet_hours, dispatch_plan, resolution_plan, send_time

SH = ZoneInfo("Asia/Shanghai")
Q = QuietHours(time(22, 0), time(7, 30))


def local(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=SH)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-03-02 21:59", "2026-03-02 21:59"),
        ("2026-03-02 22:00", "2026-03-03 07:30"),
        ("2026-03-02 23:59", "2026-03-03 07:30"),
        ("2026-03-03 00:00", "2026-03-03 07:30"),
        ("2026-03-03 07:29", "2026-03-03 07:30"),
        ("2026-03-03 07:30", "2026-03-03 07:30"),
        ("2026-03-03 12:00", "2026-03-03 12:00"),
    ],
)
def test_after_quiet_hours(at, expected):
    assert after_quiet_hours(local(at), SH, Q) == local(expected)


def test_quiet_hours_inside_one_day_and_disabled():
    day = QuietHours(time(12, 0), time(14, 0))
    assert after_quiet_hours(local("2026-03-02 13:00"), SH, day) == local("2026-03-02 14:00")
    off = QuietHours(time(0, 0), time(0, 0))
    assert after_quiet_hours(local("2026-03-02 03:00"), SH, off) == local("2026-03-02 03:00")


def test_quiet_hours_follow_the_community_time_zone():
    berlin = ZoneInfo("Europe/Berlin")
    at = datetime(2026, 3, 2, 22, 30, tzinfo=berlin)
    assert after_quiet_hours(at, berlin, Q) == datetime(2026, 3, 3, 7, 30, tzinfo=berlin)


def test_urgent_messages_ignore_quiet_hours():
    at = local("2026-03-03 01:00")
    assert send_time(at, True, SH, Q) == at
    assert send_time(at, False, SH, Q) == local("2026-03-03 07:30")


def test_dispatch_plan_reminds_at_the_deadline_and_escalates_one_span_later():
    plan = dispatch_plan(local("2026-03-02 09:00"), timedelta(hours=4), timedelta(days=2), urgent=False)
    assert [(s.kind, s.due_at) for s in plan] == [
        ("ack_reminder", local("2026-03-02 13:00")),
        ("ack_escalate", local("2026-03-02 17:00")),
        ("resolve_reminder", local("2026-03-04 09:00")),
        ("resolve_escalate", local("2026-03-06 09:00")),
    ]


def test_urgent_plan_uses_15_minutes_and_4_hours_whatever_the_intent():
    plan = dispatch_plan(local("2026-03-03 00:20"), timedelta(days=1), timedelta(days=7), urgent=True)
    assert [s.due_at for s in plan] == [local("2026-03-03 00:35"), local("2026-03-03 00:50"),
                                        local("2026-03-03 04:20"), local("2026-03-03 08:20")]


def test_deferred_escalation_counts_its_span_from_the_deferred_reminder():
    def defer(t):
        return after_quiet_hours(t, SH, Q)
    plan = dispatch_plan(local("2026-03-02 21:00"), timedelta(hours=4), timedelta(days=2), False, defer)
    assert plan[0].due_at == local("2026-03-03 07:30") and plan[1].due_at == local("2026-03-03 11:30")


def test_resolution_checks_at_24_and_72_hours():
    assert [s.due_at for s in resolution_plan(local("2026-03-02 11:00"))] == [
        local("2026-03-03 11:00"), local("2026-03-05 11:00")]
