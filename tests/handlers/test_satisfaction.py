"""评: the satisfaction question after a reporter confirms a fix."""

from __future__ import annotations

import pytest

from handlers.satisfaction import read
from tests.support import msg, simulate


@pytest.mark.parametrize(("text", "answer"), [
    ("1", "satisfied"), ("满意", "satisfied"), ("非常满意，谢谢！", "satisfied"), ("滿意", "satisfied"),
    ("2", "basic"), ("基本满意", "basic"), ("基本滿意", "basic"), ("一般", "basic"), ("一般般吧", "basic"),
    ("3", "unsatisfied"), ("不满意", "unsatisfied"), ("不滿意", "unsatisfied"), ("差评", "unsatisfied"),
    ("差評", "unsatisfied"), ("３", "unsatisfied"),
])
def test_reads_ratings_in_peoples_words(text, answer):
    assert read(text) == answer


@pytest.mark.parametrize("text", ["3号楼又漏水了", "好了", "什么时候修", "12", "满意吗"])
def test_other_messages_are_no_rating(text):
    assert read(text) is None


def _fixed(extra):
    return [
        msg("03-02 09:00", "r_sun", "8号楼3单元楼道灯不亮了"),
        msg("03-02 09:10", "bh8", "/accept 1", chat="private"),
        msg("03-02 10:00", "bh8", "/done 1 换了灯泡", chat="private"),
        msg("03-02 10:05", "r_sun", "好了，谢谢", chat="private"),
        *extra,
    ]


def test_confirmed_fix_asks_once_and_stores_the_answer(tmp_path):
    r = simulate(tmp_path, _fixed([msg("03-02 10:06", "r_sun", "基本满意", chat="private")]))
    asked = r.to("r_sun", "satisfaction")
    assert len(asked) == 1 and "对这次处理满意吗？回复 1 满意 / 2 基本满意 / 3 不满意" in asked[0]["text"]
    assert r.ticket(1)["status"] == "closed"
    assert r.ticket(1)["satisfaction"] == [{"person": "r_sun", "answer": "basic"}]
    assert r.events("unsatisfied") == []
    assert "感谢您的评价" in r.to("r_sun", "reply")[-1]["text"]


def test_unsatisfied_tells_the_grid_worker_and_the_admins_by_name(tmp_path):
    r = simulate(tmp_path, _fixed([msg("03-02 10:06", "r_sun", "不滿意，拖了一上午", chat="private")]))
    assert r.ticket(1)["satisfaction"] == []  # not a whole rating: read as usual, nothing stored
    r = simulate(tmp_path, _fixed([msg("03-02 10:06", "r_sun", "差评", chat="private")]), db="b.db")
    assert r.ticket(1)["satisfaction"] == [{"person": "r_sun", "answer": "unsatisfied"}]
    told = {m["to"] for m in r.events("unsatisfied")}
    assert told == {"gw2", "admin1", "admin2"}  # building 8 is in grid g2
    text = r.events("unsatisfied")[0]["text"]
    assert "孙先生" in text and "楼栋长韩梅" in text and "照明" in text and "r_sun" not in text


def test_rating_button_and_no_second_question(tmp_path):
    r = simulate(tmp_path, _fixed([
        msg("03-02 10:06", "r_sun", "/rate 1 1", chat="private"),
        msg("03-02 10:07", "r_sun", "/rate 1 3", chat="private"),  # answered already
    ]))
    assert r.ticket(1)["satisfaction"] == [{"person": "r_sun", "answer": "satisfied"}]
    assert len(r.to("r_sun", "refused")) == 1
    assert len(r.to("r_sun", "satisfaction")) == 1


def test_admin_close_asks_nobody(tmp_path):
    r = simulate(tmp_path, [
        msg("03-02 09:00", "r_sun", "8号楼3单元楼道灯不亮了"),
        msg("03-02 09:10", "admin1", "/close 1 重复报修", chat="private"),
    ])
    assert r.events("satisfaction") == [] and r.ticket(1)["satisfaction"] == []
