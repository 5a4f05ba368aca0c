"""The core loop end to end through the simulator: report, route, follow up, confirm."""

from __future__ import annotations

from tests.support import msg, simulate, tick


def test_report_in_group_opens_ticket_replies_in_group_and_dispatches_to_building_head(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_sun", "8号楼3单元楼道灯不亮了", mid="m1")])
    opened = r.to("group", "ticket_opened")
    assert len(opened) == 1 and "#1" in opened[0]["text"] and "照明" in opened[0]["text"]
    assert opened[0]["at"] == "2026-03-02T09:00:00+08:00"
    card = r.to("bh8", "dispatched")
    assert len(card) == 1 and "8号楼3单元" in card[0]["text"] and "孙先生" in card[0]["text"]
    t = r.ticket(1)
    assert (t["intent"], t["status"], t["building"], t["unit"], t["assignee"]) == ("lighting", "open", "8", "3", "bh8")
    assert t["reporters"] == ["r_sun"]


def test_chit_chat_and_thanks_stay_silent(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "r_sun", "早上好各位邻居"),
        msg("03-02 09:01", "r_li", "谢谢王师傅，灯修好了"),
        msg("03-02 09:02", "r_li", "收到"),
    ])
    assert r.sent == [] and r.tickets == []


def test_grid_worker_intents_go_to_the_grid_worker_of_the_buildings_grid(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhou", "9号楼楼道里有人飞线充电，电线从窗户拉下来给电动车充电")])
    assert r.ticket(1)["intent"] == "flying_lead"
    assert r.ticket(1)["assignee"] == "gw2"  # building 9 is in grid g2
    assert len(r.to("gw2", "dispatched")) == 1


def test_building_without_head_or_unknown_building_falls_back_to_grid_workers(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "r_zhou", "12号楼楼道灯不亮"),
        msg("03-02 09:05", "r_zhou", "99号楼楼道灯不亮"),
    ])
    assert r.ticket(1)["assignee"] == "gw2"  # 12 has no head; its grid is g2
    assert r.ticket(2)["assignee"] == "gw1"  # 99 is not in the file: default grid g1


def test_duplicate_delivery_of_the_same_platform_message_is_ignored(tmp_path):
    report = msg("03-02 09:00", "r_sun", "8号楼楼道灯不亮", mid="tg-77")
    r = simulate(tmp_path, [report, {**report, "at": "2026-03-02T09:00:05+08:00"}])
    assert len(r.tickets) == 1
    assert len(r.events("ticket_opened")) == 1 and len(r.events("dispatched")) == 1


def test_same_problem_in_same_building_within_a_day_joins_the_open_ticket(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "r_zhao", "3号楼楼道灯不亮"),
        msg("03-02 10:00", "r_li", "3号楼楼道的灯也是坏的，晚上黑乎乎"),
        msg("03-03 11:00", "r_zhou", "3号楼楼道灯不亮"),  # 26 h after the first: a new ticket
    ])
    dup = r.events("duplicate")
    assert len(dup) == 1 and "#1" in dup[0]["text"] and dup[0]["to"] == "group"
    assert r.ticket(1)["reporters"] == ["r_zhao", "r_li"]
    assert len(r.to("bh3", "dispatched")) == 2  # ticket 1 once, ticket 2 once; nothing for the merge
    assert len(r.tickets) == 2


def test_unknown_location_asks_once_and_takes_the_next_message_as_the_answer(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "r_zhou", "下水道堵了，水漫出来了"),
        msg("03-02 09:03", "r_zhou", "8", chat="private"),
    ])
    assert [m["event"] for m in r.sent[:1]] == ["clarify"] and r.sent[0]["to"] == "group"
    assert "几号楼" in r.sent[0]["text"]
    assert r.ticket(1)["building"] == "8" and r.ticket(1)["assignee"] == "bh8"


def test_unanswered_clarification_routes_to_default_grid_after_30_minutes(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "r_zhou", "下水道堵了，水漫出来了"),
        tick("03-02 10:00"),
    ])
    opened = r.events("ticket_opened")
    assert len(opened) == 1 and opened[0]["at"] == "2026-03-02T09:30:00+08:00"
    assert r.ticket(1)["building"] is None and r.ticket(1)["assignee"] == "gw1"


def test_registered_home_is_used_when_the_message_names_no_building(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "家门口的楼道灯不亮了")])
    assert r.events("clarify") == []
    t = r.ticket(1)
    assert (t["building"], t["unit"], t["room"], t["assignee"]) == ("3", "2", "1201", "bh3")


def test_phone_numbers_never_reach_the_group(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "3号楼楼道灯不亮，有事打我电话13800138000")])
    for m in r.to("group"):
        assert "13800138000" not in m["text"]
    assert "13800138000" in r.to("bh3", "dispatched")[0]["text"]  # the building head may call back
