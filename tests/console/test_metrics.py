"""Figures by SQL over the event log, against figures computed by hand on the replayed chat in chat.py.

Runs on SQLite, and on PostgreSQL too when LINLI_TEST_POSTGRES is set (tests/support.database_url).
"""

from __future__ import annotations

from datetime import date

import pytest

from console.metrics import percentile, report
from console.scope import Viewer
from tests.console.chat import CHAT
from tests.support import simulate

MARCH = (date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("metrics"), CHAT)


def _report(played, person="admin1", by="community", period=MARCH):
    app = played.app
    community = app.communities.all()[0]
    with app.db.session() as s:
        return report(s, Viewer(community, person), app.core.spec_for, *period, by=by)


def test_the_replayed_chat_is_what_the_hand_computation_assumes(played):
    assert [(t["intent"], t["building"], t["status"], t["reopen_count"], t["escalation_level"], t["nudges"])
            for t in played.tickets] == [
        ("lighting", "8", "closed", 0, 0, 0), ("elevator", "3", "closed", 1, 0, 0),
        ("lighting", "5", "open", 0, 1, 1), ("lighting", "3", "closed", 0, 0, 0),
    ]


def test_community_figures_match_the_hand_computation(played):
    total = _report(played)["total"]
    assert total == {
        "tickets": 4,
        "response_rate": 0.5,        # T1 accepted after 30 min (ack 4h), T2 after 20 min (ack 30m); T3, T4 never
        "on_time_rate": 0.75,        # T1, T2 (first done 15:00, within 1d), T4 (closed after 30 min); not T3
        "resolution_rate": 0.75,     # T1, T2, T4 closed
        "satisfaction_rate": 0.5,    # 满意 (T1) and 差评 (T2)
        "median_accept_minutes": 25.0, "p90_accept_minutes": 29.0,   # [20, 30]
        "median_close_hours": 1.08, "p90_close_hours": 4.35,         # [0.5, 65/60, 310/60]
        "reopen_rate": 0.25, "escalations": 1, "nudges": 1, "closed": 3, "satisfaction_answers": 2,
    }


def test_figures_by_building_and_by_grid(played):
    rows = {r["key"]: r for r in _report(played, by="building")["rows"]}
    assert list(rows) == ["3", "5", "8"] and rows["3"]["label"] == "3号楼"
    b3 = rows["3"]
    assert (b3["tickets"], b3["response_rate"], b3["on_time_rate"], b3["resolution_rate"], b3["satisfaction_rate"],
            b3["reopen_rate"], b3["median_accept_minutes"], b3["median_close_hours"]) == (
        2, 0.5, 1.0, 1.0, 0.0, 0.5, 20.0, 2.83)
    assert (rows["5"]["tickets"], rows["5"]["response_rate"], rows["5"]["escalations"], rows["5"]["nudges"],
            rows["5"]["satisfaction_rate"]) == (1, 0.0, 1, 1, None)
    grids = {r["label"]: r["tickets"] for r in _report(played, by="grid")["rows"]}
    assert grids == {"东区网格": 3, "西区网格": 1}
    assignees = {r["label"]: r["tickets"] for r in _report(played, by="assignee")["rows"]}
    assert assignees == {"楼栋长李斌": 2, "网格员陈静": 1, "楼栋长韩梅": 1}
    weeks = _report(played)["weeks"]
    assert [(w["key"], w["tickets"]) for w in weeks] == [("2026-03-02", 4)]


def test_roles_see_their_own_tickets_only(played):
    assert _report(played, "gw2")["total"]["tickets"] == 1        # grid g2: building 8
    assert _report(played, "gw1")["total"]["tickets"] == 3        # grid g1: buildings 3 and 5
    assert _report(played, "bh3")["total"]["tickets"] == 2        # building 3
    assert _report(played, "r_zhao")["total"]["tickets"] == 0     # residents see nothing


def test_the_period_bounds_are_local_days(played):
    assert _report(played, period=(date(2026, 3, 3), date(2026, 3, 3)))["total"]["tickets"] == 2
    assert _report(played, period=(date(2026, 3, 4), date(2026, 3, 31)))["total"]["tickets"] == 0


def test_percentile_interpolates():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_local_clock_agrees_with_the_deadline_rules():
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from console.metrics import LocalClock
    from jobs.deadlines import QuietHours, send_time

    for zone, quiet in (("Asia/Shanghai", QuietHours()), ("Europe/Berlin", QuietHours(time(22), time(7, 30))),
                        ("Asia/Shanghai", QuietHours(time(1), time(6)))):
        tz = ZoneInfo(zone)
        clock = LocalClock(tz, quiet)
        at = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)  # across Berlin's change to summer time
        while at < datetime(2026, 3, 31, tzinfo=UTC):
            epoch = at.timestamp()
            expected = send_time(at, False, tz, quiet).timestamp()
            assert clock.dispatch(epoch, False) == expected, (zone, at)
            assert clock.dispatch(epoch, True) == epoch
            assert clock.local_day(epoch) == at.astimezone(tz).date().toordinal()
            at += timedelta(minutes=10)
