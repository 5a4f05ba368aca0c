"""LinliApp: outbox delivery with retries, admins' notices, intent hot reload on the tick."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app import LinliApp
from bot.channels.base import Channel, DeliveryError, RecipientUnreachable
from bot.clock import ManualClock
from bot.config import Settings
from handlers.messages import IncomingMessage
from intents.loader import default_intents_dir
from storage.db import utc
from storage.models import Outbox
from tests.support import COMMUNITY, database_url, fail_statements, updates

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


class FakeChannel(Channel):
    name = "fake"

    def __init__(self) -> None:
        self.sent = []
        self.fail_next: list[Exception] = []

    def can_reach(self, community, to, chat_ref):
        return True

    async def send(self, message):
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.sent.append(message)


@pytest.fixture
def app(tmp_path):
    intents = tmp_path / "intents"
    shutil.copytree(default_intents_dir(), intents, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    clock = ManualClock(T0)
    app = LinliApp.build(Settings(database_url=database_url(tmp_path, "app.db")), [COMMUNITY], intents, clock)
    app.channel = FakeChannel()
    app.add_channel(app.channel)
    yield app
    app.db.dispose()


def report(text: str, pid: str, at: datetime = T0) -> IncomingMessage:
    return IncomingMessage(community="zhenghong", chat="group", sender="r_sun", text=text, at=at, platform_id=pid,
                           channel="fake", chat_ref="g")


async def test_submit_delivers_what_the_message_caused(app):
    await app.submit(report("8号楼楼道灯不亮", "1"))
    assert [(m.to, m.event, m.reply_to) for m in app.channel.sent] == [("group", "ticket_opened", "1"),
                                                                        ("bh8", "dispatched", None)]
    assert [b.command for b in app.channel.sent[1].buttons] == ["/accept 1", "/done 1", "/transfer 1"]


async def test_failed_delivery_is_retried_later_and_never_lost(app):
    app.channel.fail_next = [DeliveryError("timed out"), DeliveryError("429", retry_after=30)]
    await app.submit(report("8号楼楼道灯不亮", "1"))
    assert [m.event for m in app.channel.sent] == []  # both failed: nothing was marked sent
    app.clock.set(T0 + timedelta(seconds=31))
    await app.tick()
    assert sorted(m.event for m in app.channel.sent) == ["dispatched", "ticket_opened"]
    with app.db.session() as s:
        assert all(r.sent_at is not None for r in s.exec(select(Outbox)).all())
    await app.tick()
    assert len(app.channel.sent) == 2  # nothing twice


async def test_a_failed_write_after_a_successful_send_never_sends_again(app):
    failed = fail_statements(app.db.engine, updates("outbox", "sent_at"), times=1)
    await app.submit(report("8号楼楼道灯不亮", "1"))
    assert len(failed) == 1  # the first message went out, and recording it failed
    for minutes in (2, 10, 60):  # well past the lease and any backoff
        app.clock.set(T0 + timedelta(minutes=minutes))
        await app.tick()
    assert sorted(m.event for m in app.channel.sent) == ["dispatched", "ticket_opened"]  # each once
    with app.db.session() as s:
        assert all(r.sent_at is not None for r in s.exec(select(Outbox)).all())  # recorded on a later pass


async def test_backoff_counts_from_the_failure_not_from_the_start_of_the_pass(app):
    failed_at = {}

    class Slow(FakeChannel):
        async def send(self, message):
            app.clock.set(app.clock.now() + timedelta(minutes=10))  # a slow API: the pass takes a while
            failed_at[message.id] = app.clock.now()
            raise DeliveryError("timed out")

    app.channels[:] = [Slow()]
    app.notify_admins("zhenghong", "测试通知")
    await app.deliver_due()
    with app.db.session() as s:
        rows = s.exec(select(Outbox)).all()
    assert len(failed_at) == len(rows) == 2
    assert all(utc(r.not_before) > failed_at[r.id] for r in rows)


async def test_unreachable_recipient_is_marked_failed_not_retried(app):
    app.channel.fail_next = [RecipientUnreachable("blocked by user")]
    app.notify_admins("zhenghong", "测试通知")
    await app.deliver_due()
    app.clock.set(T0 + timedelta(hours=2))
    await app.tick()
    with app.db.session() as s:
        rows = s.exec(select(Outbox).order_by(Outbox.id)).all()
    assert rows[0].failed_at is not None and "blocked" in rows[0].last_error
    assert [m.to for m in app.channel.sent] == ["admin2"]


async def test_a_broken_intent_edit_keeps_the_last_good_set_and_tells_the_admins(app):
    lighting = app.intents.directory / "lighting.yaml"
    good = lighting.read_text(encoding="utf-8")
    lighting.write_text(good + "\n  - this: [is not: valid\n", encoding="utf-8")
    await app.tick()
    notices = [m for m in app.channel.sent if m.event == "notice"]
    assert sorted(m.to for m in notices) == ["admin1", "admin2"]
    assert "lighting.yaml:" in notices[0].text
    await app.submit(report("8号楼楼道灯不亮", "1"))
    assert any(m.event == "ticket_opened" for m in app.channel.sent)  # still classifying with the good set
    await app.tick()
    assert len([m for m in app.channel.sent if m.event == "notice"]) == 2  # told once, not on every tick


async def test_admin_reload_reports_errors_with_file_and_line(app):
    (app.intents.directory / "lighting.yaml").write_text("intent: [unclosed\n", encoding="utf-8")
    await app.submit(IncomingMessage(community="zhenghong", chat="private", sender="admin1", text="/reload", at=T0,
                                     platform_id="r1", channel="fake"))
    refused = [m for m in app.channel.sent if m.event == "refused"]
    assert len(refused) == 1 and "lighting.yaml:2: YAML syntax error" in refused[0].text


class StaffOnlyChannel(FakeChannel):
    """Reaches the admins only, as a WeCom app does."""

    def can_reach(self, community, to, chat_ref):
        return to.startswith("admin")


async def test_a_message_no_channel_can_deliver_is_given_up_and_the_admins_told(tmp_path):
    clock = ManualClock(T0)
    app = LinliApp.build(Settings(database_url=database_url(tmp_path, "u.db")), [COMMUNITY], clock=clock)
    channel = StaffOnlyChannel()
    app.add_channel(channel)
    with app.db.session() as s:
        s.add(Outbox(community="zhenghong", recipient="bh3", text="新工单 #7", event="dispatched", ticket_id=7,
                     created_at=T0, not_before=T0))
    for minutes in (0, 11, 22, 33):
        clock.set(T0 + timedelta(minutes=minutes))
        await app.tick()
    notices = [m for m in channel.sent if m.event == "undeliverable"]
    assert sorted(m.to for m in notices) == ["admin1", "admin2"] and "bh3" in notices[0].text
    with app.db.session() as s:
        row = s.get(Outbox, 1)
    assert row.failed_at is not None and row.attempts == 3
    app.db.dispose()
