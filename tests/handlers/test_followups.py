"""Reminders, escalation, resolution checks, quiet hours and urgency, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from jobs.sweep import MAX_ERRORS
from storage.db import utc
from storage.models import FollowUp, Pending
from tests.support import at, msg, simulate, tick

REPORT = msg("03-02 09:00", "r_zhao", "3号楼2单元楼道灯不亮")  # lighting: ack 4h, resolve 2d


def test_unaccepted_ticket_is_reminded_then_escalated_to_grid_worker_then_admins(tmp_path):
    r = simulate(tmp_path, [REPORT, tick("03-03 09:00")])
    assert [m["at"][11:16] for m in r.to("bh3", "reminder")] == ["13:00"]
    up = [m for m in r.to("gw1", "escalated") if "现由您处理" in m["text"]]
    assert len(up) == 1 and up[0]["at"] == "2026-03-02T17:00:00+08:00"
    # each move is announced to whoever had the ticket
    assert [m["text"][:8] for m in r.to("bh3", "escalated")] == ["工单 #1（照明"]
    moved_on = [m for m in r.to("gw1", "escalated") if "无需再处理" in m["text"]]
    assert len(moved_on) == 1 and "周主任" in moved_on[0]["text"]
    assert [m["at"][11:16] for m in r.to("gw1", "reminder")] == ["21:00"]
    # The next escalation falls due at 01:00, in quiet hours: it waits until 07:30, to both admins.
    assert [m["at"] for m in r.events("escalated") if m["to"] in ("admin1", "admin2")] == [
        "2026-03-03T07:30:00+08:00", "2026-03-03T07:30:00+08:00"]
    t = r.ticket(1)
    assert t["escalation_level"] == 2 and t["assignee"] == "admin1" and t["status"] == "open"


def test_accepting_stops_ack_reminders_and_resolve_deadline_reminds_then_escalates(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/accept 1", chat="private"),
        tick("03-07 12:00"),
    ])
    assert r.to("bh3", "reply")[0]["text"].startswith("已接单 #1")
    reminders = r.to("bh3", "reminder")
    assert len(reminders) == 1 and reminders[0]["at"] == "2026-03-04T09:00:00+08:00"  # resolve 2d from dispatch
    up = r.to("gw1", "escalated")
    assert len(up) == 1 and up[0]["at"] == "2026-03-06T09:00:00+08:00"
    assert r.ticket(1)["status"] == "accepted" and r.ticket(1)["escalation_level"] == 1


def test_done_asks_reporters_and_a_fixed_answer_closes(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:10", "r_li", "3号楼楼道灯坏了"),
        msg("03-02 10:00", "bh3", "/accept 1", chat="private"),
        msg("03-02 11:00", "bh3", "/done 1 换了灯泡", chat="private"),
        msg("03-02 11:30", "r_li", "亮了，谢谢！", chat="private"),
    ])
    checks = r.events("resolution_check")
    assert sorted(m["to"] for m in checks) == ["r_li", "r_zhao"]
    assert all(m["at"] == "2026-03-02T11:00:00+08:00" and "换了灯泡" in m["text"] for m in checks)
    assert r.ticket(1)["status"] == "closed" and r.ticket(1)["closed_at"] == "2026-03-02T11:30:00+08:00"
    assert len(r.to("r_li", "closed")) == 1 and len(r.to("bh3", "closed")) == 1


def test_not_fixed_reopens_to_the_same_assignee_and_restarts_deadlines(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/accept 1", chat="private"),
        msg("03-02 11:00", "bh3", "/done 1", chat="private"),
        msg("03-02 12:00", "r_zhao", "还是不亮", chat="private"),
        tick("03-02 17:00"),
    ])
    assert len(r.to("bh3", "reopened")) == 1
    t = r.ticket(1)
    assert (t["status"], t["reopen_count"]) == ("open", 1)
    assert [m["at"][11:16] for m in r.to("bh3", "reminder")] == ["16:00"]  # 4h after the reopen


def test_answers_are_read_as_phrases_not_substrings(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 11:00", "bh3", "/done 1", chat="private"),
        msg("03-02 12:00", "r_zhao", "没修好", chat="private"),
    ])
    assert r.ticket(1)["status"] == "open" and r.ticket(1)["reopen_count"] == 1


def test_unclear_answer_gets_one_question_with_the_two_options(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 11:00", "bh3", "/done 1", chat="private"),
        msg("03-02 12:00", "r_zhao", "我晚上回家看看", chat="private"),
        msg("03-02 20:00", "r_zhao", "2", chat="private"),
    ])
    options = [m for m in r.to("r_zhao", "reply") if "「1」" in m["text"]]
    assert len(options) == 1 and options[0]["at"] == "2026-03-02T12:00:00+08:00"
    assert r.ticket(1)["status"] == "open" and r.ticket(1)["reopen_count"] == 1


def test_no_answer_asks_again_after_24_and_72_hours_then_stays_resolved(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 11:00", "bh3", "/done 1", chat="private"),
        tick("03-12 12:00"),
    ])
    assert [m["at"] for m in r.to("r_zhao", "resolution_check")] == [
        "2026-03-02T11:00:00+08:00", "2026-03-03T11:00:00+08:00", "2026-03-05T11:00:00+08:00"]
    assert r.ticket(1)["status"] == "resolved" and r.ticket(1)["closed_at"] is None


def test_quiet_hours_hold_staff_messages_but_not_the_reply_to_the_resident(tmp_path):
    # (noise would go to the night duty at once: see test_conversation; a lighting report waits for bh11)
    r = simulate(tmp_path, [msg("03-02 23:15", "r_wu", "11号楼2单元楼道灯坏了，黑漆漆的"), tick("03-03 08:00")])
    assert r.to("group", "ticket_opened")[0]["at"] == "2026-03-02T23:15:00+08:00"
    assert r.to("bh11", "dispatched")[0]["at"] == "2026-03-03T07:30:00+08:00"
    # and nothing else was sent during the night
    assert all(not ("T23:" in m["at"] or "T0" in m["at"][10:13]) or m["to"] == "group" for m in r.sent
               if m["at"] < "2026-03-03T07:30")


def test_urgent_ticket_ignores_quiet_hours_and_alerts_the_grid_worker(tmp_path):
    r = simulate(tmp_path, [msg("03-03 00:20", "r_wu", "11号楼2单元电梯里有人被困了！快来人"), tick("03-03 01:00")])
    t = r.ticket(1)
    assert t["intent"] == "elevator" and t["urgent"] is True
    assert r.to("bh11", "dispatched")[0]["at"] == "2026-03-03T00:20:00+08:00"
    assert r.to("gw2", "dispatched")[0]["at"] == "2026-03-03T00:20:00+08:00"
    assert r.to("bh11", "reminder")[0]["at"] == "2026-03-03T00:35:00+08:00"  # urgent ack: 15 min
    assert r.to("gw2", "escalated")[0]["at"] == "2026-03-03T00:50:00+08:00"


# -- faults: stale rows, failing rows -------------------------------------------------------------

NO_BUILDING = [
    msg("03-02 09:00", "r_zhou", "楼道灯不亮好几天了"),  # r_zhou has no registered home: "几号楼？"
    msg("03-02 09:05", "r_zhou", "3号楼"),
    msg("03-02 09:10", "bh3", "/accept 1", chat="private"),
    msg("03-02 09:15", "bh3", "/done 1", chat="private"),
]


def when(text: str) -> datetime:
    """'03-02 09:30' in Shanghai → UTC, as the app stores times."""
    return datetime.fromisoformat(at(text)).astimezone(UTC)


def followups(r, kind: str) -> list[FollowUp]:
    with r.app.db.session() as s:
        return list(s.exec(select(FollowUp).where(FollowUp.kind == kind).order_by(FollowUp.id)).all())


def test_answering_the_building_question_retires_its_timeout(tmp_path):
    # The repro of issue 11: the timeout used to fire at 09:30 on whatever Pending row had its id by then.
    r = simulate(tmp_path, [*NO_BUILDING, tick("03-02 09:40")])
    assert r.code == 0 and r.stderr == ""
    assert [m["event"] for m in r.sent] == [
        "clarify", "ticket_opened", "dispatched", "reply", "resolution_check", "reply"]
    assert len(r.tickets) == 1 and r.ticket(1)["status"] == "resolved"
    [timeout] = followups(r, "clarify_timeout")
    assert utc(timeout.done_at) == when("03-02 09:05")


def test_a_follow_up_whose_pending_row_or_ticket_is_gone_does_nothing(tmp_path):
    first = simulate(tmp_path, NO_BUILDING, db="stale.db")
    with first.app.db.session() as s:
        resolution = s.exec(select(Pending).where(Pending.kind == "resolution")).one()
        due = when("03-02 09:30")
        # Rows left by an older release: a timeout pointing at a reused id, at no row, at no ticket.
        s.add(FollowUp(kind="clarify_timeout", pending_id=resolution.id, due_at=due))
        s.add(FollowUp(kind="clarify_timeout", pending_id=9999, due_at=due))
        s.add(FollowUp(kind="ack_reminder", ticket_id=None, due_at=due))
    second = simulate(tmp_path, [tick("03-02 09:40")], db="stale.db")
    assert second.code == 0 and second.sent == []
    assert len(second.tickets) == 1 and second.ticket(1)["status"] == "resolved"
    with second.app.db.session() as s:
        assert s.exec(select(FollowUp).where(FollowUp.due_at <= due, FollowUp.done_at.is_(None))).all() == []
        assert s.exec(select(Pending).where(Pending.kind == "resolution")).one().id == resolution.id


def test_a_failing_follow_up_never_blocks_the_others_and_is_given_up_after_its_tries(tmp_path):
    first = simulate(tmp_path, [REPORT], db="fail.db")  # a reminder for bh3 falls due at 13:00
    with first.app.db.session() as s:
        broken = Pending(community="zhenghong", person="r_zhou", kind="clarify", payload="{broken",
                         asked_at=when("03-02 09:00"),
                         expires_at=when("03-02 09:30"))
        s.add(broken)
        s.flush()
        s.add(FollowUp(kind="clarify_timeout", pending_id=broken.id, due_at=when("03-02 09:30")))
    r = simulate(tmp_path, [tick("03-02 14:00")], db="fail.db")
    assert r.code == 0
    assert [m["at"][11:16] for m in r.to("bh3", "reminder")] == ["13:00"]
    [row] = followups(r, "clarify_timeout")
    assert row.errors == MAX_ERRORS and "JSONDecodeError" in row.last_error
    assert row.done_at is not None and row.failed_at == row.done_at
    # Tried at 09:30 and then after a backoff of 1, 2, 4 and 8 minutes: given up at 09:45, the admins told.
    notices = r.events("followup_failed")
    assert sorted(m["to"] for m in notices) == ["admin1", "admin2"]
    assert {m["at"] for m in notices} == {at("03-02 09:45")}
    assert all("楼号" in m["text"] and "人工" in m["text"] for m in notices)
