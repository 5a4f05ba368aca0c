"""A replayed chat in two communities, and a signed-in HTTP client for the console."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from bot.app import LinliApp
from bot.channels.web import build_asgi_app
from bot.clock import ManualClock
from bot.config import Settings
from bot.simulate import run_simulation
from handlers.messages import IncomingMessage
from storage.models import Outbox
from tests.console.chat import CHAT
from tests.support import COMMUNITY, database_url

BASE = "http://127.0.0.1:8080"


@dataclass
class Played:
    app: LinliApp
    clock: ManualClock

    def link(self, person: str, community: str = "zhenghong") -> str:
        """Ask for a sign-in link the way staff do: 后台 in a private chat; returns the link from the reply."""
        self.app.core.handle(IncomingMessage(community=community, chat="private", sender=person, text="后台",
                                             at=self.clock.now()))
        with self.app.db.session() as s:
            from sqlmodel import select

            row = s.exec(select(Outbox).where(Outbox.recipient == person, Outbox.community == community)
                         .order_by(Outbox.id.desc())).first()
        found = re.search(r"https?://\S+/admin/login\?token=\S+", row.text)
        assert found, row.text
        return found.group(0)

    def client(self, person: str | None = None, community: str = "zhenghong") -> TestClient:
        client = TestClient(build_asgi_app(self.app, []), base_url=BASE)
        if person is not None:
            answer = client.get(self.link(person, community).replace(BASE, ""), follow_redirects=False)
            assert answer.status_code == 303, answer.text
        return client


def play(tmp_path) -> Played:
    other = tmp_path / "other.yaml"
    other.write_text(COMMUNITY.read_text(encoding="utf-8").replace("id: zhenghong", "id: jinxiu")
                     .replace("name: 正弘悦府", "name: 锦绣花园"), encoding="utf-8")
    clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    app = LinliApp.build(Settings(database_url=database_url(tmp_path, "console.db")), [COMMUNITY, other],
                         clock=clock)
    lines = io.StringIO("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in CHAT))
    assert asyncio.run(run_simulation(app, clock, lines, io.StringIO(), errors=io.StringIO())) == 0
    # ticket #5 belongs to the other community
    app.core.handle(IncomingMessage(community="jinxiu", chat="group", sender="r_sun", text="7号楼楼道灯不亮",
                                    at=clock.now(), chat_ref="g2"))
    return Played(app, clock)


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> Played:
    found = play(tmp_path_factory.mktemp("console"))
    yield found
    found.app.db.dispose()
