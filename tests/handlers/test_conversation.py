"""The conversation around a ticket as group chats have it, through ``linli simulate``'s own path.

One test per rule: me-too, status questions, every reporter hears the outcome, public areas, urgent advice,
the truth about timing, moves announced, review acknowledgement, people's words for commands, names.
"""

from __future__ import annotations

from tests.support import msg, simulate, tick

REPORT = msg("03-02 09:00", "r_zhao", "3号楼2单元楼道灯不亮", mid="m1")  # lighting → bh3


def with_fields(event: dict, **extra) -> dict:
    return {**event, **extra}


# -- a resident's own words close the loop -------------------------------------------------------------------------
def test_a_natural_fixed_closes_and_every_reporter_hears_it(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:10", "r_li", "3号楼楼道灯确实不亮"),
        msg("03-02 10:00", "bh3", "/done 1 换了灯泡", chat="private"),
        msg("03-02 10:05", "r_li", "亮了亮了谢谢", chat="private"),
    ])
    assert r.ticket(1)["status"] == "closed"
    assert len(r.to("r_li", "closed")) == 1 and len(r.to("r_zhao", "closed")) == 1
    assert len(r.to("bh3", "closed")) == 1


def test_a_contrast_ending_fixed_does_not_reopen(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/done 1", chat="private"),
        msg("03-02 19:00", "r_zhao", "早上还不亮，现在亮了", chat="private"),
    ])
    assert r.ticket(1)["status"] == "closed" and r.ticket(1)["reopen_count"] == 0


def test_not_fixed_after_a_close_reopens_the_same_ticket_not_a_new_one(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:10", "r_li", "3号楼楼道灯确实不亮"),
        msg("03-02 10:00", "bh3", "/done 1", chat="private"),
        msg("03-02 10:05", "r_zhao", "好了", chat="private"),
        msg("03-03 20:00", "r_li", "还是不亮"),
    ])
    assert [t["id"] for t in r.tickets] == [1]
    assert r.ticket(1)["status"] == "open" and r.ticket(1)["reopen_count"] == 1
    assert len(r.to("bh3", "reopened")) == 1
    assert r.to("r_zhao", "reopened") and r.to("r_li", "reopened")


def test_not_fixed_long_after_a_close_is_a_new_report(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/done 1", chat="private"),
        msg("03-02 10:05", "r_zhao", "好了", chat="private"),
        msg("03-06 20:00", "r_zhao", "3号楼2单元楼道灯又不亮了"),
    ])
    assert r.ticket(1)["status"] == "closed" and len(r.tickets) == 2


def test_an_unclear_answer_never_closes_and_is_asked_once_more(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/done 1", chat="private"),
        msg("03-02 10:05", "r_zhao", "收到", chat="private"),
        msg("03-02 10:06", "r_zhao", "谢谢", chat="private"),
    ])
    assert r.ticket(1)["status"] == "resolved"
    assert len([m for m in r.to("r_zhao", "reply") if "「1」" in m["text"]]) == 1


def test_a_bare_building_without_a_question_is_silent(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_sun", "8号楼"), msg("03-02 09:01", "r_sun", "3栋")])
    assert r.sent == [] and r.tickets == []


# -- me too --------------------------------------------------------------------------------------------------------
def test_me_too_joins_the_recent_ticket_of_the_group(tmp_path):
    r = simulate(tmp_path, [REPORT, msg("03-02 09:30", "r_sun", "+1"), msg("03-02 09:40", "r_wu", "我家也这样")])
    assert r.ticket(1)["reporters"] == ["r_zhao", "r_sun", "r_wu"]
    assert len(r.to("r_sun", "duplicate")) == 1 and len(r.to("r_wu", "duplicate")) == 1
    assert len(r.events("dispatched")) == 1 and not r.events("clarify") and len(r.tickets) == 1


def test_me_too_naming_another_building_opens_a_ticket_there(tmp_path):
    r = simulate(tmp_path, [REPORT, msg("03-02 09:30", "r_sun", "8号楼也是")])
    assert [(t["intent"], t["building"]) for t in r.tickets] == [("lighting", "3"), ("lighting", "8")]
    assert r.ticket(2)["assignee"] == "bh8"


def test_me_too_after_two_hours_is_not_joined(tmp_path):
    r = simulate(tmp_path, [REPORT, msg("03-02 11:30", "r_sun", "+1")])
    assert r.ticket(1)["reporters"] == ["r_zhao"] and r.sent[-1]["event"] != "duplicate"


def test_a_quoted_reply_to_a_report_joins_it(tmp_path):
    r = simulate(tmp_path, [REPORT, with_fields(msg("03-02 09:30", "r_sun", "我家门口这层也是黑的"), reply_to="m1")])
    assert r.ticket(1)["reporters"] == ["r_zhao", "r_sun"] and len(r.tickets) == 1


# -- when will it be fixed? ----------------------------------------------------------------------------------------
def test_a_status_question_gets_the_status_and_nudges_the_assignee(tmp_path):
    r = simulate(tmp_path, [REPORT, msg("03-02 11:00", "r_zhao", "什么时候修？"), msg("03-02 11:05", "r_zhao", "有人管吗")])
    status = r.to("group", "status")
    assert len(status) == 2 and "楼栋长李斌" in status[0]["text"] and "待接单" in status[0]["text"]
    assert len(r.to("bh3", "nudge")) == 1  # the second question within 30 minutes does not nudge again
    assert r.ticket(1)["nudges"] == 1 and len(r.tickets) == 1
    assert not r.events("duplicate")


# -- public places -------------------------------------------------------------------------------------------------
def test_a_named_area_routes_to_its_grid_worker_and_is_recorded(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "地库B区的灯坏了一排，黑乎乎的")])
    t = r.ticket(1)
    assert (t["area"], t["building"], t["assignee"]) == ("地下车库", None, "gw2")


def test_a_public_place_never_takes_the_reporters_home(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "小区门口的路灯不亮了")])
    t = r.ticket(1)
    assert t["building"] is None and t["area"] is not None and not r.events("clarify")


# -- urgent means help now -----------------------------------------------------------------------------------------
def test_urgent_report_gets_advice_with_the_communitys_numbers(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "3号楼2单元楼道里一股煤气味，很冲")])
    advice = r.events("advice")
    assert len(advice) == 1 and advice[0]["to"] == "group" and "96777" in advice[0]["text"]


def test_a_person_down_is_urgent_with_advice_to_call_120(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "5号楼楼下有个老人晕倒了，叫不醒")])
    assert r.ticket(1)["urgent"] is True
    assert "120" in r.events("advice")[0]["text"]


def test_grid_worker_alert_is_claimed_only_when_sent(tmp_path):
    # building 12 has no head: the grid worker is the assignee, nobody else is told
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "12号楼电梯里有人被困了")])
    opened = r.events("ticket_opened")[0]["text"]
    assert "同时通知网格员" not in opened and r.ticket(1)["assignee"] == "gw2"


# -- tell the truth about timing -----------------------------------------------------------------------------------
def test_quiet_hours_say_when_the_dispatch_goes(tmp_path):
    r = simulate(tmp_path, [msg("03-02 23:00", "r_zhao", "3号楼2单元楼道灯不亮"), tick("03-03 08:00")])
    assert "将于 07:30 派给楼栋长李斌" in r.events("ticket_opened")[0]["text"]
    assert r.to("bh3", "dispatched")[0]["at"].endswith("07:30:00+08:00")


def test_noise_at_night_goes_to_the_night_duty_at_once(tmp_path):
    r = simulate(tmp_path, [msg("03-02 23:30", "r_wu", "11号楼楼上半夜还在装修砸墙")])
    assert r.ticket(1)["assignee"] == "guard1"
    assert r.to("guard1", "dispatched")[0]["at"].endswith("23:30:00+08:00")
    assert "已派给值班保安老刘" in r.events("ticket_opened")[0]["text"]


def test_a_held_dispatch_is_not_sent_once_the_ticket_was_taken(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 23:00", "r_zhao", "3号楼2单元楼道灯不亮"),
        msg("03-02 23:30", "admin1", "/transfer 1 gw1", chat="private"),
        msg("03-02 23:40", "gw1", "/accept 1", chat="private"),
        tick("03-03 09:00"),
    ])
    assert r.to("bh3", "dispatched") == []  # the 07:30 card for bh3 was withdrawn
    assert r.to("gw1", "dispatched") == []  # ... and gw1's, since gw1 accepted before it went


# -- moves are announced -------------------------------------------------------------------------------------------
def test_a_transfer_tells_the_previous_assignee_and_a_refused_accept_says_who_holds_it(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:30", "admin1", "/transfer 1 gw1", chat="private"),
        msg("03-02 09:40", "bh3", "/accept 1", chat="private"),
    ])
    assert any("转派给网格员陈静" in m["text"] for m in r.to("bh3", "reply"))
    assert "现由网格员陈静处理" in r.to("bh3", "refused")[0]["text"]


# -- nobody is left in silence -------------------------------------------------------------------------------------
def test_people_words_work_like_commands(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 09:30", "bh3", "接单 1", chat="private"),
        msg("03-02 10:00", "bh3", "完成 1 换了灯泡", chat="private"),
        msg("03-02 10:05", "r_zhao", "接单 1", chat="private"),
        msg("03-02 10:06", "r_zhao", "我的工单", chat="private"),
        msg("03-02 10:07", "admin1", "关闭 1 重复报修", chat="private"),
    ])
    assert r.ticket(1)["status"] == "closed"
    assert len(r.to("r_zhao", "refused")) == 1  # a resident cannot take a ticket
    assert any(m["text"].startswith("我报的") for m in r.to("r_zhao", "reply"))


def test_help_in_private_gets_a_how_to(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "怎么报修", chat="private")])
    assert "怎么报修" in r.to("r_zhao", "reply")[0]["text"]


def test_reload_answers_in_chinese(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "admin1", "/reload", chat="private")])
    assert r.to("admin1", "reply")[0]["text"].startswith("已重新加载意图配置")


def test_names_not_ids_for_people_outside_the_community_file(tmp_path):
    r = simulate(tmp_path, [
        with_fields(msg("03-02 09:00", "tg:555", "3号楼2单元楼道灯不亮"), name="小王"),
        msg("03-02 09:30", "tg:777", "5号楼1单元楼道灯不亮"),
    ])
    cards = r.events("dispatched")
    assert "报告人：小王" in cards[0]["text"] and "报告人：居民" in cards[1]["text"]
    assert all("tg:" not in m["text"] for m in r.sent)


# -- two problems in one message -----------------------------------------------------------------------------------
def test_two_problems_for_two_people_open_two_linked_tickets_and_one_answer(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "3号楼楼道灯不亮，单元门口的监控也坏了好几天了")])
    assert sorted((t["intent"], t["assignee"]) for t in r.tickets) == [("lighting", "bh3"), ("security", "gw1")]
    opened = r.events("ticket_opened")
    assert len(opened) == 1 and "#1" in opened[0]["text"] and "#2" in opened[0]["text"]


def test_two_problems_for_the_same_person_stay_one_ticket(tmp_path):
    r = simulate(tmp_path, [msg("03-02 09:00", "r_zhao", "3号楼电梯又坏了，楼道灯也不亮")])
    assert len(r.tickets) == 1  # both go to the building head: one ticket, the text says both


def test_not_fixed_about_another_building_after_a_close_is_a_new_report(tmp_path):
    r = simulate(tmp_path, [
        REPORT,
        msg("03-02 10:00", "bh3", "/done 1", chat="private"),
        msg("03-02 10:05", "r_zhao", "好了", chat="private"),
        msg("03-02 20:00", "r_zhao", "5号楼1单元楼道灯又不亮了"),
    ])
    assert r.ticket(1)["status"] == "closed"
    assert [(t["intent"], t["building"]) for t in r.tickets] == [("lighting", "3"), ("lighting", "5")]
