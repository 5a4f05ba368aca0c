"""Staff and admin commands, and refusal of anyone not allowed to give them."""

from __future__ import annotations

from tests.support import msg, simulate, tick

REPORT = msg("03-02 09:00", "r_zhao", "3号楼2单元楼道灯不亮")


def test_a_resident_cannot_accept_and_gets_exactly_one_refusal(tmp_path):
    r = simulate(tmp_path, [REPORT, msg("03-02 09:05", "r_li", "/accept 1")])
    refused = r.events("refused")
    assert len(refused) == 1 and refused[0]["to"] == "r_li" and refused[0]["ticket"] == 1
    assert r.ticket(1)["status"] == "open"


def test_another_building_head_cannot_mark_done(tmp_path):
    r = simulate(tmp_path, [REPORT, msg("03-02 09:05", "bh5", "/done 1", chat="private")])
    assert [m["to"] for m in r.events("refused")] == ["bh5"]
    assert r.ticket(1)["status"] == "open" and r.events("resolution_check") == []


def test_only_admins_close_and_only_with_a_reason(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:05", "bh3", "/close 1 不归我管", chat="private"),
        msg("03-02 09:06", "admin1", "/close 1", chat="private"),
        msg("03-02 09:07", "admin1", "/close 1 重复报修，已在#0处理", chat="private"),
    ])
    assert [m["to"] for m in r.events("refused")] == ["bh3", "admin1"]
    assert r.ticket(1)["status"] == "closed"
    assert any(m["to"] == "r_zhao" and "重复报修" in m["text"] for m in r.events("closed"))


def test_stale_button_answers_with_the_current_state(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:05", "bh3", "/accept 1", chat="private"),
        msg("03-02 09:06", "bh3", "/accept 1", chat="private"),
    ])
    refused = r.events("refused")
    assert len(refused) == 1 and "处理中" in refused[0]["text"]


def test_unknown_ticket_and_unknown_command_are_answers_not_errors(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "bh3", "/accept 42", chat="private"),
                            msg("03-02 09:01", "bh3", "/frobnicate", chat="private")])
    assert [m["event"] for m in r.sent] == ["refused", "refused"]
    assert "#42" in r.sent[0]["text"] and r.code == 0


def test_transfer_gives_the_ticket_to_another_staff_member_with_fresh_deadlines(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/transfer 1 bh4", chat="private"),
        msg("03-02 10:01", "bh3", "/transfer 1 r_li", chat="private"),  # not staff, and no longer bh3's
        tick("03-02 14:30"),
    ])
    assert r.ticket(1)["assignee"] == "bh4"
    assert len(r.to("bh4", "dispatched")) == 1
    assert [m["at"][11:16] for m in r.to("bh4", "reminder")] == ["14:00"]
    assert r.to("bh3", "reminder") == []
    assert len(r.events("refused")) == 1


def test_building_head_reject_goes_to_grid_worker_and_grid_worker_reject_to_admins(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/reject 1", chat="private"),  # a reason is required
        msg("03-02 10:01", "bh3", "/reject 1 是物业公共区域的事", chat="private"),
        msg("03-02 10:05", "gw1", "/reject 1 应由物业处理", chat="private"),
        msg("03-02 10:10", "admin2", "/transfer 1 bh4", chat="private"),
    ])
    assert len(r.events("refused")) == 1
    assert len(r.to("gw1", "dispatched")) == 1
    assert len(r.to("admin1", "dispatched")) == 1 and len(r.to("admin2", "dispatched")) == 1
    assert r.ticket(1)["assignee"] == "bh4"


def test_admin_reopens_a_closed_ticket(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:05", "admin1", "/close 1 误报", chat="private"),
        msg("03-02 09:10", "r_zhao", "/reopen 1", chat="private"),
        msg("03-02 09:15", "admin1", "/reopen 1", chat="private"),
    ])
    assert [m["to"] for m in r.events("refused")] == ["r_zhao"]
    assert r.ticket(1)["status"] == "open" and r.ticket(1)["reopen_count"] == 1
    assert len(r.to("bh3", "reopened")) == 1


def test_status_mine_and_stats(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:05", "r_zhao", "/status 1", chat="private"),
        msg("03-02 09:06", "bh3", "/mine", chat="private"),
        msg("03-02 09:07", "r_zhao", "/stats", chat="private"),
        msg("03-02 09:08", "admin1", "/stats", chat="private"),
    ])
    status = r.to("r_zhao", "reply")[0]["text"]
    assert "#1" in status and "待接单" in status and "楼栋长李斌" in status
    assert "#1" in r.to("bh3", "reply")[0]["text"]
    assert len(r.to("r_zhao", "refused")) == 1
    assert "待接单 1" in r.to("admin1", "reply")[0]["text"]


def test_residents_register_their_home_for_later_reports(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "newcomer", "绑定 6-1-702", chat="private"),
        msg("03-02 09:05", "newcomer", "楼道灯不亮了"),
    ])
    assert "6号楼1单元702" in r.to("newcomer", "reply")[0]["text"]
    assert r.ticket(1)["building"] == "6" and r.ticket(1)["assignee"] == "bh6"


def test_reload_is_for_admins(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "bh3", "/reload", chat="private"),
                            msg("03-02 09:01", "admin1", "/reload", chat="private")])
    assert r.sent[0]["event"] == "refused" and r.sent[1]["event"] == "reply"
