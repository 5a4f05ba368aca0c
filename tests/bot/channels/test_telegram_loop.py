"""The whole loop through Telegram: the real ``LinliApp`` with a ``TelegramChannel`` running real
python-telegram-bot long polling against the fake Bot API on 127.0.0.1, SQLite in a temp folder,
and a manual clock.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.app import LinliApp
from bot.channels.telegram import TelegramChannel
from bot.clock import ManualClock
from bot.config import Settings
from storage.models import Outbox, Ticket
from tests.support import database_url


def _load_fake():
    name = "linli_tests_fake_telegram_api"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "fakes" / "telegram_api.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fk = _load_fake()
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")  # PTB's own RetryAfter notice
T0 = datetime.fromtimestamp(fk._START, UTC)  # 2026-03-02 09:00 in Shanghai: outside quiet hours


class Harness:
    """One running Linli on a database file; ``restart()`` stops it and starts a fresh process on it."""

    def __init__(self, fake, db_url: str) -> None:
        self.fake = fake
        self.clock = ManualClock(T0)
        self.settings = Settings(
            database_url=db_url,
            telegram_token=fk.TOKEN,
            telegram_base_url=fake.base_url,
            tick_seconds=3600,
        )
        self.app: LinliApp | None = None
        self.channel: TelegramChannel | None = None
        self.handled = 0

    async def start(self) -> None:
        self.app = LinliApp.build(settings=self.settings, community_paths=[fk.COMMUNITY], clock=self.clock)
        self.channel = TelegramChannel.from_settings(self.settings, self.app.communities)
        assert self.channel is not None
        self.channel.poll_timeout = 1.0
        self.app.add_channel(self.channel)
        submit = self.app.submit

        async def counted(msg):  # count what the adapter handed to the core, so tests wait on facts
            try:
                return await submit(msg)
            finally:
                self.handled += 1

        self.app.submit = counted
        await self.app.start()

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def push(self, update: dict, sends: int = 0, submitted: bool = True) -> list[dict]:
        """Feed one update; wait until the core handled it (when it goes to the core) and ``sends``
        more messages went out; return them."""
        before, handled = len(self.fake.sent()), self.handled
        self.fake.push_update(update)
        assert await self.fake.until(
            lambda: (self.handled > handled or not submitted) and len(self.fake.sent()) >= before + sends
        )
        await asyncio.sleep(0.05)  # nothing more may arrive
        return self.fake.sent()[before:]

    async def tick(self, advance: timedelta = timedelta(0)) -> list[dict]:
        before = len(self.fake.sent())
        self.clock.set(self.clock.now() + advance)
        assert self.app is not None
        await self.app.tick()
        return self.fake.sent()[before:]

    def tickets(self) -> list[Ticket]:
        assert self.app is not None
        with self.app.db.session() as s:
            return list(s.exec(select(Ticket).order_by(Ticket.id)).all())

    def outbox(self) -> list[Outbox]:
        assert self.app is not None
        with self.app.db.session() as s:
            return list(s.exec(select(Outbox).order_by(Outbox.id)).all())


@pytest.fixture
def fake():
    with fk.FakeTelegramAPI() as server:
        yield server


@pytest.fixture
async def linli(fake, tmp_path):
    harness = Harness(fake, database_url(tmp_path, "linli.db"))
    await harness.start()
    yield harness
    await harness.stop()


def report(message_id: int, text: str, sender=None) -> dict:
    return {"message": fk.group_message(fk.GROUP_ID, message_id, sender or fk.user(fk.ZHAO, "赵", "女士"), text)}


def press(query_id: str, user_id: int, data: str, chat_id: int) -> dict:
    """A press on an inline button of a message the bot sent to ``chat_id`` (a private chat)."""
    bot_message = {
        "message_id": 4000,
        "from": {"id": fk.BOT_ID, "is_bot": True, "first_name": "邻里", "username": fk.BOT_USERNAME},
        "chat": {"id": chat_id, "type": "private", "first_name": "x"},
        "date": fk._START,
        "text": "…",
    }
    return {"callback_query": fk.callback_query(query_id, fk.user(user_id, "x"), data, bot_message)}


def texts(sent: list[dict], chat_id: int) -> list[str]:
    return [p["text"] for p in sent if str(p["chat_id"]) == str(chat_id)]


async def test_group_report_replies_in_group_and_dispatches_with_buttons(linli):
    sent = await linli.push(report(11, "3号楼2单元楼道灯不亮了"), sends=2)
    (reply,) = [p for p in sent if str(p["chat_id"]) == str(fk.GROUP_ID)]
    assert "#1" in reply["text"] and reply["reply_parameters"]["message_id"] == 11
    (dm,) = [p for p in sent if str(p["chat_id"]) == str(fk.BH3)]
    assert "#1" in dm["text"] and "13800138000" not in reply["text"]
    buttons = [(b["text"], b["callback_data"]) for row in dm["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [("接单", "/accept 1"), ("已处理", "/done 1"), ("转派", "/transfer 1")]
    (ticket,) = linli.tickets()
    assert (ticket.status, ticket.assignee) == ("open", "bh3")


async def test_chit_chat_gets_no_answer(linli):
    assert await linli.push(report(12, "大家早上好"), sends=0) == []
    assert linli.tickets() == []


async def test_buttons_by_the_right_and_the_wrong_person_then_resolution_check_and_reopen(linli, fake):
    await linli.push(report(11, "3号楼2单元楼道灯不亮了"), sends=2)

    sent = await linli.push(press("q1", fk.ZHAO, "/accept 1", fk.BH3), sends=1)  # not hers to press
    assert texts(sent, fk.ZHAO) and "无法执行" in texts(sent, fk.ZHAO)[0]
    assert linli.tickets()[0].status == "open"

    await linli.push(press("q2", fk.BH3, "/accept 1", fk.BH3), sends=1)
    assert linli.tickets()[0].status == "accepted"

    sent = await linli.push(press("q3", fk.BH3, "/done 1", fk.BH3), sends=2)
    (check,) = [p for p in sent if str(p["chat_id"]) == str(fk.ZHAO)]
    answers = [b["callback_data"] for row in check["reply_markup"]["inline_keyboard"] for b in row]
    assert answers == ["/fixed 1", "/notfixed 1"]
    assert linli.tickets()[0].status == "resolved"

    sent = await linli.push(press("q4", fk.ZHAO, "/notfixed 1", fk.ZHAO), sends=2)
    ticket = linli.tickets()[0]
    assert (ticket.status, ticket.reopen_count) == ("open", 1)
    assert any("重开" in t for t in texts(sent, fk.BH3))

    sent = await linli.push(press("q5", fk.ZHAO, "/fixed 1", fk.ZHAO), sends=1)  # a stale button
    assert "#1" in texts(sent, fk.ZHAO)[0]
    assert linli.tickets()[0].status == "open"
    assert {c.params["callback_query_id"] for c in fake.calls_of("answerCallbackQuery")} == {"q1", "q2", "q3", "q4", "q5"}

    # the same press delivered twice (a redelivered update) is handled once
    assert await linli.push(press("q4", fk.ZHAO, "/notfixed 1", fk.ZHAO), sends=0) == []
    assert linli.tickets()[0].reopen_count == 1


async def test_forbidden_falls_back_to_a_mention_in_the_group_and_tells_the_admins(linli, fake):
    fake.forbid(fk.BH5)
    sent = await linli.push(report(21, "5号楼1单元楼道灯不亮", sender=fk.user(8801, "钱", "大爷")), sends=2)
    group = texts(sent, fk.GROUP_ID)
    assert len(group) == 2 and "#1" in group[0]
    mention = group[1]
    assert "tg://user?id=9005" in mention and "楼栋长王刚" in mention
    assert "钱大爷" not in mention and "13900139000" not in mention and "楼道灯" not in mention
    assert texts(sent, fk.BH5) == []
    admin = texts(await linli.tick(), fk.ADMIN)
    assert len(admin) == 1 and "楼栋长王刚" in admin[0]
    assert all(row.sent_at is not None for row in linli.outbox())  # nothing left hanging


async def test_flood_control_and_network_errors_delay_but_lose_nothing(linli, fake):
    fake.flood(5)  # the group reply meets a 429 retry_after=5
    fake.fail("sendMessage", 502, "Bad Gateway", match=lambda p: str(p.get("chat_id")) == str(fk.BH3))
    sent = await linli.push(report(11, "3号楼2单元楼道灯不亮了"), sends=0)
    assert sent == []
    pending = [row for row in linli.outbox() if row.sent_at is None]
    assert len(pending) == 2 and all(row.attempts == 1 for row in pending)
    group_row = next(row for row in pending if row.recipient == "group")
    assert "retry" in (group_row.last_error or "").lower() or "flood" in (group_row.last_error or "").lower()

    assert await linli.tick(timedelta(seconds=2)) == []  # retry_after is honoured
    later = await linli.tick(timedelta(seconds=4))
    assert texts(later, fk.GROUP_ID) and texts(later, fk.BH3) == []
    assert texts(later, fk.GROUP_ID)[0].startswith("已收到")
    later = await linli.tick(timedelta(minutes=5))  # the backoff of the network error has passed
    assert len(texts(later, fk.BH3)) == 1
    assert all(row.sent_at is not None for row in linli.outbox())
    assert len(fake.sent(fk.GROUP_ID)) == 1 and len(fake.sent(fk.BH3)) == 1  # each delivered exactly once


async def test_restart_processes_nothing_twice_and_loses_nothing(linli, fake):
    first = report(11, "3号楼2单元楼道灯不亮了")
    update_id = fake.push_update(first)
    assert await fake.until(lambda: len(fake.sent()) >= 2)
    await asyncio.sleep(0.15)
    await linli.stop()
    assert fake.pending_updates() == []  # the offset was confirmed at shutdown

    # while Linli is down: Telegram redelivers the first update (e.g. a crash before confirming it)
    # and a new report arrives; neither is lost, the first is not handled twice
    fake.push_update(first | {"update_id": update_id})
    fake.push_update(report(12, "5号楼1单元楼道灯不亮"))
    before = len(fake.sent())
    await linli.start()
    assert await fake.until(lambda: not fake.pending_updates() and len(fake.sent()) >= before + 2)
    await asyncio.sleep(0.2)
    tickets = linli.tickets()
    assert [(t.id, t.assignee) for t in tickets] == [(1, "bh3"), (2, "bh5")]
    replies = fake.sent(fk.GROUP_ID)
    assert [p["reply_parameters"]["message_id"] for p in replies] == [11, 12]
    assert len(fake.sent(fk.BH3)) == 1


async def test_invite_link_then_private_commands(linli, fake):
    await linli.push(report(11, "3号楼2单元楼道灯不亮了"), sends=2)
    code = linli.app.identities.create_invite(fk.COMMUNITY_ID, "r_qian")
    qian = fk.user(8801, "钱", "大爷")
    sent = await linli.push({"message": fk.private_message(1, qian, f"/start {code}")}, sends=1, submitted=False)
    assert "钱大爷" in texts(sent, 8801)[0]
    sent = await linli.push({"message": fk.private_message(2, qian, "/status 1")}, sends=1)
    assert "#1" in texts(sent, 8801)[0]
    assert linli.channel.can_reach(fk.COMMUNITY_ID, "r_qian", None)


async def test_webhook_mode_from_settings(fake, tmp_path):
    port = fk.free_port()
    harness = Harness(fake, database_url(tmp_path, "hook.db"))
    harness.settings = Settings(
        database_url=harness.settings.database_url,
        telegram_token=fk.TOKEN,
        telegram_base_url=fake.base_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/tg/hook",
        telegram_webhook_secret="hook-secret",
        telegram_webhook_listen="127.0.0.1",
        telegram_webhook_port=port,
        tick_seconds=3600,
    )
    await harness.start()
    try:
        url = f"http://127.0.0.1:{port}/tg/hook"
        body = {"update_id": 500, **report(11, "3号楼2单元楼道灯不亮了")}
        async with httpx.AsyncClient() as client:
            assert (await client.post(url, json=body)).status_code == 403
            await asyncio.sleep(0.05)
            assert harness.handled == 0 and fake.sent() == []
            ok = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
            assert (await client.post(url, json=body, headers=ok)).status_code == 200
            assert await fake.until(lambda: harness.handled == 1 and len(fake.sent()) == 2)
            assert (await client.post(url, json=body, headers=ok)).status_code == 200  # Telegram retries
            assert await fake.until(lambda: harness.handled == 2)
        await asyncio.sleep(0.05)
        assert len(fake.sent()) == 2 and len(harness.tickets()) == 1
        assert fake.calls_of("setWebhook")[0].params["secret_token"] == "hook-secret"
        assert fake.calls_of("getUpdates") == []
    finally:
        await harness.stop()
