"""The community file: validation with file:line, ${VAR} expansion, lookups."""

from __future__ import annotations

import pytest

from storage.community import CommunityError, load_community
from tests.support import COMMUNITY


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """name: 测试小区
admins: [a1]
grids:
  g1: {workers: [w1]}
default_grid: g1
buildings:
  "1": {grid: g1, head: h1}
people:
  a1: {name: 管理员}
  w1: {name: 网格员}
  h1: {name: 楼长}
"""


def test_sample_community_loads():
    c = load_community(COMMUNITY)
    assert c.id == "zhenghong" and len(c.buildings) == 12 and set(c.grids) == {"g1", "g2"}
    assert c.building_head("3") == "bh3" and c.grid_of("9") == "g2" and c.grid_of("404") == "g1"
    assert c.role_of("bh3") == "building_head" and c.role_of("gw1") == "grid_worker" and c.is_admin("admin1")


def test_minimal_file_gets_defaults(tmp_path):
    c = load_community(write(tmp_path, MINIMAL))
    assert c.id == "c" and c.timezone == "Asia/Shanghai" and str(c.quiet_hours.start) == "22:00:00"


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("default_grid: g1", "default_grid: g9"), 5, "default_grid 'g9'"),
        (('"1": {grid: g1, head: h1}', '"1": {grid: g2, head: h1}'), 7, "grid 'g2'"),
        (('"1": {grid: g1, head: h1}', '"1": {grid: g1, head: h1, colour: red}'), 7, "Extra inputs"),
        (("  w1: {name: 网格员}\n", ""), 4, "grid worker 'w1' is not in people"),
        (("name: 测试小区", "name: 测试小区\ntimezone: Mars/Olympus"), 2, "unknown time zone"),
        (("admins: [a1]", "admins: [a1"), None, ""),
    ],
)
def test_errors_name_the_file_the_line_and_the_problem(tmp_path, change, line, words):
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(CommunityError) as err:
        load_community(path)
    text = str(err.value)
    assert text.startswith(f"{path}:")
    if line is not None:
        assert f"{path}:{line}:" in text and words in text


def test_env_references_are_expanded_and_missing_ones_reported(tmp_path, monkeypatch):
    extra = "wecom: {corp_id: ww1, agent_id: 1000002, secret: '${WECOM_SECRET}', token: t, encoding_aes_key: k}\n"
    monkeypatch.setenv("WECOM_SECRET", "s3cret")
    c = load_community(write(tmp_path, MINIMAL + extra))
    assert c.wecom.secret == "s3cret"
    monkeypatch.delenv("WECOM_SECRET")
    with pytest.raises(CommunityError, match="WECOM_SECRET is not set"):
        load_community(write(tmp_path, MINIMAL + extra))


def test_missing_file(tmp_path):
    with pytest.raises(CommunityError, match="not found"):
        load_community(tmp_path / "nope.yaml")
