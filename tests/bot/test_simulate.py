"""The ``linli simulate`` contract: input and output lines, --db restarts, --tickets, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.support import COMMUNITY, ROOT, database_url, msg, simulate, tick


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_cli_reads_events_and_writes_json_lines_and_tickets(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(msg("03-02 09:00", "r_sun", "8号楼电梯坏了，停在5楼不动", mid="m-1"),
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    tickets = tmp_path / "tickets.jsonl"
    done = run_cli("simulate", "--community", str(COMMUNITY), "--tickets", str(tickets), str(events))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert {tuple(sorted(line)) for line in lines} == {("at", "event", "text", "ticket", "to")}
    assert [line["event"] for line in lines] == ["ticket_opened", "dispatched"]
    row = json.loads(tickets.read_text(encoding="utf-8"))
    assert set(row) == {"id", "intent", "status", "building", "unit", "room", "urgent", "assignee", "reporters",
                        "reopen_count", "escalation_level", "opened_at", "closed_at", "area", "nudges",
                        "satisfaction"}
    assert row["id"] == lines[0]["ticket"] == 1 and row["intent"] == "elevator"


def test_cli_survives_the_answered_building_question_of_issue_11(tmp_path):
    events = [
        msg("03-02 09:00", "r_zhou", "楼道灯不亮好几天了"),
        msg("03-02 09:05", "r_zhou", "3号楼"),
        msg("03-02 09:10", "bh3", "/accept 1", chat="private"),
        msg("03-02 09:15", "bh3", "/done 1", chat="private"),
        tick("03-02 09:40"),
    ]
    done = run_cli("simulate", "--community", str(COMMUNITY), "-",
                   stdin="".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert [json.loads(line)["event"] for line in done.stdout.splitlines()] == [
        "clarify", "ticket_opened", "dispatched", "reply", "resolution_check", "reply"]


def test_malformed_lines_are_reported_with_their_number_and_the_rest_goes_on(tmp_path):
    r = simulate(tmp_path, [
        "{not json",
        msg("03-02 09:00", "r_sun", "8号楼电梯坏了"),
        json.dumps({"at": "yesterday", "from": "x", "text": "y"}),
        json.dumps({"at": "2026-03-02T09:10:00+08:00", "from": "x"}),
        json.dumps({"at": "2026-03-02T08:00:00+08:00", "from": "x", "text": "out of order"}),
    ])
    assert r.code == 1
    assert [line.split(":")[0] for line in r.stderr.splitlines()] == ["line 1", "line 3", "line 4", "line 5"]
    assert len(r.tickets) == 1


def test_restart_with_db_loses_nothing_and_sends_nothing_twice(tmp_path):
    report = msg("03-02 09:00", "r_zhao", "3号楼楼道灯不亮", mid="m-1")
    first = simulate(tmp_path, [report, tick("03-02 12:00")], db="state.db")
    assert [m["event"] for m in first.sent] == ["ticket_opened", "dispatched"]
    # The second run replays the same message (a redelivery) and goes on past the reminder.
    second = simulate(tmp_path, [report, tick("03-02 14:00")], db="state.db")
    assert [(m["event"], m["at"][11:16]) for m in second.sent] == [("reminder", "13:00")]
    assert len(second.tickets) == 1
    third = simulate(tmp_path, [tick("03-02 14:30")], db="state.db")
    assert third.sent == []


def test_kill_9_loses_no_output_line(tmp_path):
    db, out_path = tmp_path / "state.db", tmp_path / "out.jsonl"
    report = json.dumps(msg("03-02 09:00", "r_zhao", "3号楼楼道灯不亮", mid="m-1"), ensure_ascii=False)

    def marked_sent() -> int:
        if not db.exists():
            return 0
        with contextlib.closing(sqlite3.connect(db)) as c:
            try:
                return c.execute("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet
                return 0

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout as in production
    with out_path.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "simulate", "--community", str(COMMUNITY),
                                 "--db", str(db), "-"], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.DEVNULL,
                                text=True, cwd=ROOT, env=buffered)
        try:
            proc.stdin.write(report + "\n")
            proc.stdin.flush()  # stdin stays open: the simulator waits for more
            for _ in range(2400):  # polls, a guard against hanging (not a measurement)
                if marked_sent() >= 2:
                    break
                assert proc.poll() is None
                time.sleep(0.05)
            else:
                pytest.fail("the simulator never marked its two messages sent")
        finally:
            proc.kill()  # SIGKILL: nothing is flushed on the way out
            proc.wait()
    first = [json.loads(line) for line in out_path.read_text(encoding="utf-8").splitlines()]
    second = run_cli("simulate", "--community", str(COMMUNITY), "--db", str(db), "-",
                     stdin=json.dumps(tick("03-02 09:30")) + "\n")
    lines = first + [json.loads(line) for line in second.stdout.splitlines()]
    assert [m["event"] for m in lines] == ["ticket_opened", "dispatched"]  # each once, none lost


def test_deferred_messages_wait_in_the_db_for_the_next_run(tmp_path):
    first = simulate(tmp_path, [msg("03-02 23:00", "r_wu", "11号楼2单元楼道灯坏了，黑漆漆的")], db="q.db")
    assert [m["event"] for m in first.sent] == ["ticket_opened"]
    second = simulate(tmp_path, [tick("03-03 08:00")], db="q.db")
    assert [(m["to"], m["event"], m["at"]) for m in second.sent] == [("bh11", "dispatched", "2026-03-03T07:30:00+08:00")]


def test_bad_community_file_stops_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: 测试小区\nadmins: [a1]\ngrids:\n  g1: {workers: [w1]}\ndefault_grid: g2\n"
                   "buildings:\n  \"1\": {grid: g1, head: nobody}\npeople:\n  a1: {name: A}\n  w1: {name: W}\n",
                   encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text("", encoding="utf-8")
    done = run_cli("simulate", "--community", str(bad), str(events))
    assert done.returncode != 0
    assert f"{bad}:5: default_grid 'g2'" in done.stderr
    assert f"{bad}:7: building 1: head 'nobody'" in done.stderr


def test_run_without_any_channel_says_so_and_fails(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--community", str(COMMUNITY)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LINLI_DATABASE_URL": database_url(tmp_path, "x.db")})
    assert done.returncode != 0
    assert "no channel is configured" in done.stderr
