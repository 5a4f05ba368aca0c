"""Helpers for behaviour tests: play events through the real simulator, read what the bot sent."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.app import LinliApp
from bot.clock import ManualClock
from bot.config import Settings
from bot.simulate import run_simulation, write_tickets

ROOT = Path(__file__).resolve().parent.parent
COMMUNITY = ROOT / "examples" / "community.yaml"


@dataclass
class SimResult:
    sent: list[dict]
    tickets: list[dict]
    stderr: str
    code: int
    app: LinliApp = field(repr=False)

    def to(self, who: str, event: str | None = None) -> list[dict]:
        return [m for m in self.sent if m["to"] == who and (event is None or m["event"] == event)]

    def events(self, event: str) -> list[dict]:
        return [m for m in self.sent if m["event"] == event]

    def ticket(self, tid: int) -> dict:
        return next(t for t in self.tickets if t["id"] == tid)


def at(text: str) -> str:
    """'03-02 09:00' → an ISO time in Shanghai (year 2026)."""
    return f"2026-{text[:5]}T{text[6:]}:00+08:00"


def msg(when: str, sender: str, text: str, chat: str = "group", mid: str | None = None) -> dict:
    event = {"at": at(when), "from": sender, "chat": chat, "text": text}
    if mid:
        event["id"] = mid
    return event


def tick(when: str) -> dict:
    return {"at": at(when)}


def fail_statements(engine, match: Callable[[str], bool], times: int = 1) -> list[str]:
    """Make the next ``times`` SQL statements that ``match`` fail as a locked database does;
    returns the list of statements failed so far."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    failed: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if len(failed) < times and match(statement):
            failed.append(statement)
            raise OperationalError(statement, parameters, Exception("database is locked"))

    event.listen(engine, "before_cursor_execute", before)
    return failed


def updates(table: str, column: str) -> Callable[[str], bool]:
    """Matches an UPDATE of ``table`` that sets ``column``."""

    def match(statement: str) -> bool:
        head = " ".join(statement.split()).upper()
        return head.startswith(f"UPDATE {table.upper()} SET") and column.upper() in head.split(" WHERE ")[0]

    return match


def database_url(tmp_path: Path, db: str) -> str:
    """SQLite in ``tmp_path`` by default; with ``LINLI_TEST_POSTGRES`` (a server URL such as
    ``postgresql+psycopg://postgres:pg@127.0.0.1/postgres``) one PostgreSQL database per test and name."""
    server = os.environ.get("LINLI_TEST_POSTGRES")
    if not server:
        return f"sqlite:///{tmp_path / db}"
    import psycopg
    from sqlalchemy.engine import make_url

    name = "t_" + hashlib.sha1(f"{tmp_path}/{db}".encode()).hexdigest()[:16]
    url = make_url(server)
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def simulate(tmp_path: Path, events: list[dict | str], db: str = "sim.db", community: Path = COMMUNITY) -> SimResult:
    """Run the events through ``linli simulate``'s own code path, in-process."""
    url = database_url(tmp_path, db)
    clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    app = LinliApp.build(Settings(database_url=url), [community], clock=clock)
    out, err = io.StringIO(), io.StringIO()
    lines = io.StringIO("".join((e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)) + "\n" for e in events))
    code = asyncio.run(run_simulation(app, clock, lines, out, errors=err))
    tickets_file = tmp_path / f"{db}.tickets.jsonl"
    write_tickets(app, app.communities.all()[0], tickets_file)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    tickets = [json.loads(line) for line in tickets_file.read_text(encoding="utf-8").splitlines()]
    app.db.dispose()
    return SimResult(sent, tickets, err.getvalue(), code, app)
