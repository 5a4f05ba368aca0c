"""The admin commands of the CLI: review (with add-example), people invite, community check."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest

from bot.cli import main
from intents.loader import default_intents_dir, load_intents
from storage.db import Database
from storage.models import ReviewItem
from tests.support import COMMUNITY, database_url


@pytest.fixture
def intents_copy(tmp_path):
    folder = tmp_path / "intents"
    shutil.copytree(default_intents_dir(), folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


@pytest.fixture
def db(tmp_path, monkeypatch):
    """(URL, the CLI's database options): ``--db FILE`` on SQLite, ``LINLI_DATABASE_URL`` on PostgreSQL."""
    url = database_url(tmp_path, "cli.db")
    if url.startswith("sqlite"):
        return url, ["--db", str(tmp_path / "cli.db")]
    monkeypatch.setenv("LINLI_DATABASE_URL", url)
    return url, []


def seed_review(url, text):
    db = Database(url)
    db.create_all()
    with db.session() as s:
        s.add(ReviewItem(community="zhenghong", person="r_li", text=text, guess="lighting", confidence=0.3,
                         at=datetime(2026, 3, 2, tzinfo=UTC)))
    db.dispose()


def test_review_lists_and_resolves_into_a_new_example(db, intents_copy, capsys):
    url, opts = db
    text = "楼梯口那块晚上伸手不见五指"
    seed_review(url, text)
    assert main(["review", "--community", str(COMMUNITY), *opts, "--intents", str(intents_copy)]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(i["id"], i["text"], i["guess"]) for i in listed] == [(1, text, "lighting")]
    code = main(["review", "--community", str(COMMUNITY), *opts, "--intents", str(intents_copy),
                 "--resolve", "1", "lighting", "--add-example"])
    assert code == 0
    lighting = load_intents(intents_copy).defs["lighting"]
    assert text in [example for example, _line in lighting.examples]
    capsys.readouterr()
    main(["review", "--community", str(COMMUNITY), *opts, "--intents", str(intents_copy)])
    assert capsys.readouterr().out == ""  # resolved items leave the list


def test_review_refuses_unknown_intents_and_items(db, intents_copy, capsys):
    url, opts = db
    seed_review(url, "随便一句")
    base = ["review", "--community", str(COMMUNITY), *opts, "--intents", str(intents_copy)]
    assert main([*base, "--resolve", "1", "lightning"]) == 2
    assert main([*base, "--resolve", "9", "lighting"]) == 2
    assert "unknown intent 'lightning'" in capsys.readouterr().err


def test_people_invite_prints_one_code_and_deep_link_per_person(db, capsys):
    _, opts = db
    assert main(["people", "invite", "--community", str(COMMUNITY), *opts, "--bot", "linli_bot",
                 "bh3", "gw1"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == ["bh3", "gw1"]
    assert rows[0][3] == f"https://t.me/linli_bot?start={rows[0][2]}" and rows[0][2] != rows[1][2]
    assert main(["people", "invite", "--community", str(COMMUNITY), *opts, "nobody"]) == 2


def test_community_check(tmp_path, capsys):
    assert main(["community", "check", str(COMMUNITY)]) == 0
    assert "12 buildings" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    assert main(["community", "check", str(bad)]) == 1
    assert f"{bad}:1:" in capsys.readouterr().out
