"""Load check of the console: the figures page (and the metrics API) over 100,000 tickets on SQLite.

Bulk-inserts tickets with a realistic event log (opened, accepted, done, confirmed / closed, some reopened,
escalated, nudged) and satisfaction answers, then times ``/admin/figures`` and ``/admin/api/metrics`` through
the real ASGI app. Prints the times; nothing asserts them.

    python benchmarks/console.py [--tickets 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from bot.app import LinliApp  # noqa: E402
from bot.channels.web import build_asgi_app  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from console.auth import new_link  # noqa: E402
from storage.console import Satisfaction  # noqa: E402
from storage.models import Ticket, TicketEvent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)


def fill(app: LinliApp, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    community = app.communities.all()[0]
    intents = app.core.intent_ids()
    buildings = list(community.buildings)
    tickets, events, ratings = [], [], []
    for tid in range(1, n + 1):
        opened = START + timedelta(minutes=rng.randrange(0, 90 * 24 * 60))
        building = rng.choice(buildings)
        assignee = community.building_head(building) or community.grid_worker(community.grid_of(building))
        status = rng.choices(["closed", "resolved", "accepted", "open"], [70, 8, 12, 10])[0]
        accepted = opened + timedelta(minutes=rng.randrange(5, 600)) if status != "open" else None
        done = accepted + timedelta(hours=rng.randrange(1, 72)) if status in ("closed", "resolved") else None
        closed = done + timedelta(hours=rng.randrange(0, 30)) if status == "closed" else None
        tickets.append(dict(id=tid, community=community.id, intent=rng.choice(intents), status=status, building=building,
                            urgent=rng.random() < 0.03, text="楼道灯不亮", reporter="r_zhao", assignee=assignee,
                            opened_at=opened, dispatched_at=opened, accepted_at=accepted, resolved_at=done,
                            closed_at=closed, escalation_level=0, reopen_count=0, confidence=0.9, channel="simulated",
                            nudges=0))
        events.append(dict(ticket_id=tid, at=opened, actor="r_zhao", kind="opened", to_status="open", note=""))
        if accepted:
            events.append(dict(ticket_id=tid, at=accepted, actor=assignee, kind="accepted", to_status="accepted", note=""))
        if done:
            events.append(dict(ticket_id=tid, at=done, actor=assignee, kind="done", to_status="resolved", note=""))
        if closed:
            events.append(dict(ticket_id=tid, at=closed, actor="r_zhao", kind="confirmed_fixed", to_status="closed",
                               note=""))
            if rng.random() < 0.4:
                ratings.append(dict(community=community.id, ticket_id=tid, person="r_zhao", asked_at=closed,
                                    answer=rng.choices(["satisfied", "basic", "unsatisfied"], [70, 20, 10])[0],
                                    answered_at=closed, text="1"))
        if rng.random() < 0.05:
            events.append(dict(ticket_id=tid, at=opened + timedelta(hours=5), actor="system", kind="escalated",
                               to_status="open", note=""))
        if rng.random() < 0.04:
            events.append(dict(ticket_id=tid, at=opened + timedelta(hours=6), actor="r_zhao", kind="nudged",
                               to_status="open", note=""))
    with app.db.engine.begin() as conn:
        for table, rows in ((Ticket, tickets), (TicketEvent, events), (Satisfaction, ratings)):
            for i in range(0, len(rows), 20000):
                conn.execute(insert(table), rows[i:i + 20000])
    print(f"{n:,} tickets, {len(events):,} events, {len(ratings):,} satisfaction answers")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(datetime(2026, 4, 1, tzinfo=UTC))
        app = LinliApp.build(Settings(database_url=f"sqlite:///{tmp}/load.db"), [ROOT / "examples" / "community.yaml"],
                             clock=clock)
        t = time.perf_counter()
        fill(app, args.tickets)
        print(f"filled in {time.perf_counter() - t:.1f} s")
        with app.db.session() as s:
            link = new_link(s, "zhenghong", "admin1", clock.now())
        client = TestClient(build_asgi_app(app, []), base_url="http://127.0.0.1:8080")
        client.get(link.split("8080", 1)[1])
        for label, url in (
            ("figures page, 90 days by building", "/admin/figures?from=2026-01-01&to=2026-03-31&by=building"),
            ("figures page, 90 days by type", "/admin/figures?from=2026-01-01&to=2026-03-31&by=type"),
            ("metrics API, 90 days by assignee", "/admin/api/metrics?from=2026-01-01&to=2026-03-31&by=assignee"),
            ("metrics API, one month by grid", "/admin/api/metrics?from=2026-03-01&to=2026-03-31&by=grid"),
            ("ticket list, open in building 3", "/admin/?status=open&building=3"),
        ):
            times = []
            for _ in range(3):
                t = time.perf_counter()
                answer = client.get(url)
                times.append(time.perf_counter() - t)
                assert answer.status_code == 200, answer.text[:200]
            print(f"{label}: best {min(times):.2f} s, worst {max(times):.2f} s")
        app.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
