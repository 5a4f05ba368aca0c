"""The Telegram adapter on its own: real python-telegram-bot against the fake Bot API on 127.0.0.1,
with the real identity/binding storage and a stub in place of the core (``submit`` records).

The end-to-end loop through ``LinliApp`` is in ``test_telegram_loop.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.channels.base import DeliveryError, RecipientUnreachable
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_support import (
    HELP_UNKNOWN,
    INVITE_INVALID,
    LenientExtBot,
    command_args,
    fallback_mention_text,
    keyboard,
    normalize_command,
    reply_message_id,
    sanitize_updates,
)
from handlers.messages import Button, OutgoingMessage
from storage.community import CommunityRegistry
from storage.db import Database
from storage.identities import ChatBindings, Identities
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
OTHER_GROUP = -1009999999999


class StubApp:
    """What the adapter uses of ``LinliApp``: real storage, recording ``submit``/``notify_admins``."""

    def __init__(self, db_url: str) -> None:
        self.communities = CommunityRegistry.load([fk.COMMUNITY])
        self.db = Database(db_url)
        self.db.create_all()
        self.identities = Identities(self.db, self.communities)
        self.bindings = ChatBindings(self.db, self.communities)
        self.submitted: list = []
        self.notices: list[tuple[str, str]] = []

    async def submit(self, msg) -> None:
        self.submitted.append(msg)

    def notify_admins(self, community: str, text: str, event: str = "notice") -> None:
        self.notices.append((community, text))


@pytest.fixture
def fake():
    with fk.FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def stub(tmp_path):
    app = StubApp(database_url(tmp_path, "linli.db"))
    yield app
    app.db.dispose()


def make_channel(fake, **kw) -> TelegramChannel:
    return TelegramChannel(fk.TOKEN, base_url=fake.base_url, poll_timeout=1.0, **kw)


@pytest.fixture
async def channel(fake, stub):
    ch = make_channel(fake)
    await ch.start(stub)
    yield ch
    await ch.stop()


def out(to: str, text: str = "收到", **kw) -> OutgoingMessage:
    base = dict(id=1, community=fk.COMMUNITY_ID, to=to, text=text, event="reply", ticket=7, at=datetime.now(UTC))
    base.update(kw)
    return OutgoingMessage(**base)


# -- pure helpers ------------------------------------------------------------------------------------


def test_normalize_command_strips_this_bots_name_only():
    assert normalize_command("/accept@linli_test_bot 12", "linli_test_bot") == "/accept 12"
    assert normalize_command("/accept@Linli_Test_Bot", "linli_test_bot") == "/accept"
    assert normalize_command("/accept@other_bot 12", "linli_test_bot") is None
    assert normalize_command("3号楼楼道灯不亮", "linli_test_bot") == "3号楼楼道灯不亮"
    assert command_args("/bind tgtest", "bind") == ["tgtest"]
    assert command_args("/binding x", "bind") is None


def test_reply_to_is_only_used_in_its_own_chat():
    assert reply_message_id(f"{fk.GROUP_ID}:42", str(fk.GROUP_ID)) == 42
    assert reply_message_id("-100777:42", str(fk.GROUP_ID)) is None
    assert reply_message_id("wx-msg-1", str(fk.GROUP_ID)) is None
    assert reply_message_id(None, str(fk.GROUP_ID)) is None


def test_keyboard_maps_buttons_to_commands():
    markup = keyboard([Button("接单", "/accept 7"), Button("已处理", "/done 7"), Button("转派", "/transfer 7")])
    rows = markup.to_dict()["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in rows] == [["/accept 7", "/done 7", "/transfer 7"]]
    assert keyboard([Button("x", "/" + "a" * 80)]) is None  # callback_data is at most 64 bytes


def test_fallback_mention_carries_nothing_private():
    text = fallback_mention_text("9005", "王<刚>", "linli_test_bot", 7)
    assert 'href="tg://user?id=9005"' in text and "王&lt;刚&gt;" in text and "#7" in text
    assert "/status 7" in text


def test_legacy_updates_are_emptied_not_dropped():
    bot = LenientExtBot(fk.TOKEN)
    legacy = [json.loads(p.read_text()) for p in fk.LEGACY]
    assert len(legacy) == 13
    for i, body in enumerate(legacy):
        body["update_id"] = 100 + i
    good = {"update_id": 200, "message": fk.group_message(fk.GROUP_ID, 1, fk.user(fk.ZHAO, "赵"), "灯坏了")}
    cleaned = sanitize_updates([*legacy, {"no": "id"}, good], bot)
    assert [u["update_id"] for u in cleaned] == [*range(100, 113), 200]
    assert all(u == {"update_id": u["update_id"]} for u in cleaned[:13])
    assert cleaned[-1] is good


# -- incoming ------------------------------------------------------------------------------------------


async def test_group_text_becomes_an_incoming_message(fake, stub, channel):
    zhao = fk.user(fk.ZHAO, "赵", "女士")
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 11, zhao, "3号楼楼道灯不亮")})
    stranger = fk.user(555, "路人")
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 12, stranger, "电梯坏了", caption=None)})
    assert await fake.until(lambda: len(stub.submitted) == 2)
    first, second = stub.submitted
    assert first.community == fk.COMMUNITY_ID and first.chat == "group"
    assert first.sender == "r_zhao" and first.sender_name == "赵 女士"
    assert first.text == "3号楼楼道灯不亮"
    assert first.platform_id == f"{fk.GROUP_ID}:11" and first.chat_ref == str(fk.GROUP_ID)
    assert first.channel == "telegram"
    assert first.at == datetime.fromtimestamp(fk._START, UTC)
    assert second.sender == "tg:555"


async def test_photo_caption_counts_edits_and_media_do_not(fake, stub, channel):
    zhao = fk.user(fk.ZHAO, "赵")
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 21, zhao, caption="楼道漏水了，看图")})
    edited = fk.group_message(fk.GROUP_ID, 21, zhao, "楼道漏水了，很严重")
    edited["edit_date"] = fk._START + 60
    fake.push_update({"edited_message": edited})
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 22, zhao, caption=None)})  # no text at all
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 23, fk.user(4242, "other bot") | {"is_bot": True}, "hi")})
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 24, zhao, "/status@other_bot 1")})
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 25, zhao, "/status@linli_test_bot 1")})
    assert await fake.until(lambda: not fake.pending_updates() and len(stub.submitted) >= 2)
    await asyncio.sleep(0.1)
    assert [m.text for m in stub.submitted] == ["楼道漏水了，看图", "/status 1"]


async def test_unbound_group_is_ignored_and_logged_once(fake, stub, channel, caplog):
    caplog.set_level(logging.WARNING, logger="linli.telegram")
    for i in range(3):
        fake.push_update({"message": fk.group_message(OTHER_GROUP, 30 + i, fk.user(fk.ZHAO, "赵"), "有人吗")})
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 33, fk.user(fk.ZHAO, "赵"), "楼道灯不亮")})
    assert await fake.until(lambda: len(stub.submitted) == 1)  # handled in order: the three came first
    assert [m.platform_id for m in stub.submitted] == [f"{fk.GROUP_ID}:33"]
    assert len([r for r in caplog.records if str(OTHER_GROUP) in r.getMessage()]) == 1


async def test_bind_by_admin_only(fake, stub, channel):
    fake.push_update({"message": fk.group_message(OTHER_GROUP, 40, fk.user(fk.BH3, "李斌"), "/bind tgtest")})
    fake.push_update({"message": fk.group_message(OTHER_GROUP, 41, fk.user(fk.ADMIN, "周"), "/bind nowhere")})
    fake.push_update({"message": fk.group_message(OTHER_GROUP, 42, fk.user(fk.ADMIN, "周"), "/bind@linli_test_bot tgtest")})
    fake.push_update({"message": fk.group_message(OTHER_GROUP, 43, fk.user(fk.ZHAO, "赵"), "5号楼电梯坏了")})
    assert await fake.until(lambda: len(stub.submitted) == 1)
    replies = [p["text"] for p in fake.sent(OTHER_GROUP)]
    assert replies[0].startswith("只有") and replies[1].startswith("只有")
    assert "测试花园" in replies[2]
    assert stub.bindings.community_for("telegram", str(OTHER_GROUP)) == fk.COMMUNITY_ID
    assert stub.submitted[0].chat_ref == str(OTHER_GROUP)


async def test_private_invite_flow(fake, stub, channel):
    code = stub.identities.create_invite(fk.COMMUNITY_ID, "r_qian")
    qian = fk.user(8801, "钱", "大爷")
    fake.push_update({"message": fk.private_message(1, qian, "你好")})
    fake.push_update({"message": fk.private_message(2, qian, "/start wrongcode")})
    fake.push_update({"message": fk.private_message(3, qian, f"/start {code}")})
    fake.push_update({"message": fk.private_message(4, qian, "/mine")})
    assert await fake.until(lambda: len(stub.submitted) == 1)
    texts = [p["text"] for p in fake.sent(8801)]
    assert texts[0] == HELP_UNKNOWN and texts[1] == INVITE_INVALID and "钱大爷" in texts[2]
    msg = stub.submitted[0]
    assert (msg.community, msg.chat, msg.sender, msg.text) == (fk.COMMUNITY_ID, "private", "r_qian", "/mine")
    assert msg.platform_id == "8801:4"
    assert stub.identities.resolve(fk.COMMUNITY_ID, "telegram", "8801") == "r_qian"


async def test_button_press_is_answered_and_submitted(fake, stub, channel):
    bot_msg = {
        "message_id": 77,
        "from": {"id": fk.BOT_ID, "is_bot": True, "first_name": "邻里", "username": fk.BOT_USERNAME},
        "chat": {"id": fk.BH3, "type": "private", "first_name": "李斌"},
        "date": fk._START,
        "text": "新工单 #7",
    }
    fake.push_update({"callback_query": fk.callback_query("q1", fk.user(fk.BH3, "李斌"), "/accept 7", bot_msg)})
    fake.push_update({"callback_query": fk.callback_query("q2", fk.user(31337, "陌生人"), "/accept 7", bot_msg)})
    assert await fake.until(lambda: len(fake.calls_of("answerCallbackQuery")) == 2)
    await asyncio.sleep(0.1)
    assert len(stub.submitted) == 1
    msg = stub.submitted[0]
    assert (msg.chat, msg.sender, msg.text, msg.platform_id) == ("private", "bh3", "/accept 7", "cb:q1")
    answers = {c.params["callback_query_id"]: c.params for c in fake.calls_of("answerCallbackQuery")}
    assert "show_alert" not in answers["q1"]
    assert answers["q2"]["show_alert"] == "true"


async def test_legacy_payloads_are_skipped_by_polling(fake, stub, channel):
    for path in fk.LEGACY:
        fake.push_update(json.loads(path.read_text()) | {"update_id": fake._next_update_id})
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 50, fk.user(fk.ZHAO, "赵"), "楼道灯不亮")})
    assert await fake.until(lambda: len(stub.submitted) == 1)
    assert stub.submitted[0].text == "楼道灯不亮"
    assert await fake.until(lambda: not fake.pending_updates())  # all confirmed, none refetched forever


async def test_privacy_mode_is_warned_about(stub, caplog):
    caplog.set_level(logging.WARNING, logger="linli.telegram")
    with fk.FakeTelegramAPI(can_read_all_group_messages=False) as server:
        ch = make_channel(server)
        await ch.start(stub)
        await ch.stop()
    assert ch.privacy_mode is True
    assert any("privacy mode is ON" in r.getMessage() and "/setprivacy" in r.getMessage() for r in caplog.records)


async def test_stop_confirms_the_offset(fake, stub):
    ch = make_channel(fake)
    await ch.start(stub)
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 60, fk.user(fk.ZHAO, "赵"), "楼道灯不亮")})
    assert await fake.until(lambda: len(stub.submitted) == 1)
    await ch.stop()
    assert fake.pending_updates() == []  # Telegram would not send it again
    await ch.stop()  # idempotent


# -- outgoing ------------------------------------------------------------------------------------------


async def test_group_reply_goes_to_the_message(fake, stub, channel):
    await channel.send(out("group", "已登记 #7", chat_ref=str(fk.GROUP_ID), reply_to=f"{fk.GROUP_ID}:11"))
    await channel.send(out("group", "提醒", chat_ref=None))
    first, second = fake.sent(fk.GROUP_ID)
    assert first["text"] == "已登记 #7"
    assert first["reply_parameters"]["message_id"] == 11
    assert first["reply_parameters"]["allow_sending_without_reply"] is True
    assert "reply_parameters" not in second


async def test_person_gets_buttons(fake, stub, channel):
    buttons = (Button("接单", "/accept 7"), Button("已处理", "/done 7"), Button("转派", "/transfer 7"))
    assert channel.can_reach(fk.COMMUNITY_ID, "bh3", None)
    assert not channel.can_reach(fk.COMMUNITY_ID, "r_qian", None)  # no Telegram account linked
    assert channel.can_reach(fk.COMMUNITY_ID, "group", str(fk.GROUP_ID))
    assert not channel.can_reach(fk.COMMUNITY_ID, "group", str(OTHER_GROUP))
    await channel.send(out("bh3", "新工单 #7", event="dispatched", buttons=buttons))
    (sent,) = fake.sent(fk.BH3)
    keyboard_rows = sent["reply_markup"]["inline_keyboard"]
    assert [(b["text"], b["callback_data"]) for b in keyboard_rows[0]] == [
        ("接单", "/accept 7"),
        ("已处理", "/done 7"),
        ("转派", "/transfer 7"),
    ]
    with pytest.raises(RecipientUnreachable):
        await channel.send(out("r_qian", "x"))


async def test_forbidden_falls_back_to_a_group_mention(fake, stub, channel):
    fake.forbid(fk.BH5)
    await channel.send(out("bh5", "新工单 #7：5号楼1单元 钱大爷 13900139000 电梯坏了", event="dispatched"))
    await channel.send(out("bh5", "提醒：工单 #7 还没接单", event="reminder"))  # same ticket: no second mention
    (mention,) = fake.sent(fk.GROUP_ID)
    assert mention["parse_mode"] == "HTML"
    assert "tg://user?id=9005" in mention["text"] and "#7" in mention["text"]
    assert "13900139000" not in mention["text"] and "电梯" not in mention["text"]
    assert len(stub.notices) == 1 and "王刚" in stub.notices[0][1]
    assert "13900139000" not in stub.notices[0][1]


async def test_forbidden_without_a_group_is_unreachable(fake, stub, tmp_path):
    ch = make_channel(fake)
    await ch.start(stub)
    try:
        fake.forbid(fk.BH5)
        stub.bindings._from_file = lambda channel: {}  # as if the community had no group
        with pytest.raises(RecipientUnreachable):
            await ch.send(out("bh5", "x"))
    finally:
        await ch.stop()


async def test_flood_control_and_network_errors_are_retryable(fake, stub, channel):
    fake.flood(3)
    with pytest.raises(DeliveryError) as err:
        await channel.send(out("bh3", "x"))
    assert not isinstance(err.value, RecipientUnreachable)
    assert err.value.retry_after == 3.0
    fake.fail("sendMessage", 502, "Bad Gateway")
    with pytest.raises(DeliveryError) as err:
        await channel.send(out("bh3", "x"))
    assert not isinstance(err.value, RecipientUnreachable) and err.value.retry_after is None
    await channel.send(out("bh3", "y"))
    assert [p["text"] for p in fake.sent(fk.BH3)] == ["y"]


async def test_unreachable_server_is_a_delivery_error(stub):
    server = fk.FakeTelegramAPI().start()
    ch = make_channel(server)
    await ch.start(stub)
    server.stop()
    try:
        with pytest.raises(DeliveryError) as err:
            await ch.send(out("bh3", "x"))
        assert not isinstance(err.value, RecipientUnreachable)
    finally:
        await ch.stop()


async def test_a_wrong_token_stops_the_start_with_a_clear_error(fake, stub):
    ch = TelegramChannel("999:WRONG", base_url=fake.base_url)
    with pytest.raises(RuntimeError, match="LINLI_TELEGRAM_TOKEN"):
        await ch.start(stub)
    await ch.stop()  # nothing to stop, no error


async def test_from_settings():
    class S:
        telegram_token = None

    assert TelegramChannel.from_settings(S(), None) is None
    S.telegram_token = "1:x"
    S.telegram_base_url = "http://127.0.0.1:8081/bot"
    ch = TelegramChannel.from_settings(S(), None)
    assert ch.name == "telegram" and ch.base_file_url == "http://127.0.0.1:8081/file/bot"
    assert ch.webhook_secret is None


# -- webhook -------------------------------------------------------------------------------------------


async def test_webhook_requires_the_secret_token(fake, stub):
    port = fk.free_port()
    ch = make_channel(
        fake,
        webhook_url=f"http://127.0.0.1:{port}/tg/hook",
        webhook_secret="s3cret-Token_1",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    await ch.start(stub)
    try:
        (set_call,) = fake.calls_of("setWebhook")
        assert set_call.params["secret_token"] == "s3cret-Token_1"
        assert set_call.params["url"] == f"http://127.0.0.1:{port}/tg/hook"
        url = f"http://127.0.0.1:{port}/tg/hook"
        body = {"update_id": 1, "message": fk.group_message(fk.GROUP_ID, 70, fk.user(fk.ZHAO, "赵"), "楼道灯不亮")}
        async with httpx.AsyncClient() as client:
            r = await client.post(url, json=body)
            assert r.status_code == 403
            r = await client.post(url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            assert r.status_code == 403
            await asyncio.sleep(0.05)
            assert stub.submitted == []
            secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            for path in fk.LEGACY:  # pre-Bot-API-3 bodies: refused with 400, nothing crashes
                r = await client.post(url, content=path.read_bytes(), headers={**secret, "Content-Type": "application/json"})
                assert r.status_code == 400, path.name
            r = await client.post(url, json=body, headers=secret)
            assert r.status_code == 200
        assert await fake.until(lambda: len(stub.submitted) == 1)
        assert stub.submitted[0].platform_id == f"{fk.GROUP_ID}:70"
    finally:
        await ch.stop()
    with pytest.raises(httpx.ConnectError):  # the port is released
        httpx.post(f"http://127.0.0.1:{port}/tg/hook", json={})


async def test_webhook_secret_is_generated_when_missing(fake, stub):
    port = fk.free_port()
    ch = make_channel(fake, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_port=port)
    assert ch.webhook_secret and len(ch.webhook_secret) >= 32
    await ch.start(stub)
    try:
        assert fake.calls_of("setWebhook")[0].params["secret_token"] == ch.webhook_secret
    finally:
        await ch.stop()


# -- group upgraded to a supergroup ---------------------------------------------------------------------


async def test_group_migration_keeps_the_binding(fake, stub, channel):
    new_id = -1005555555555
    service = fk.group_message(fk.GROUP_ID, 80, fk.user(fk.ADMIN, "周"))
    service["migrate_to_chat_id"] = new_id
    fake.push_update({"message": service})
    fake.push_update({"message": fk.group_message(new_id, 1, fk.user(fk.ZHAO, "赵"), "楼道灯不亮")})
    assert await fake.until(lambda: len(stub.submitted) == 1)
    assert stub.submitted[0].community == fk.COMMUNITY_ID and stub.submitted[0].chat_ref == str(new_id)

    other = -1006666666666  # sending into a migrated chat follows Telegram's migrate_to_chat_id
    fake.fail("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
              parameters={"migrate_to_chat_id": other})
    await channel.send(out("group", "已登记", chat_ref=str(fk.GROUP_ID)))
    assert [p["text"] for p in fake.sent(other)] == ["已登记"]
    assert stub.bindings.community_for("telegram", str(other)) == fk.COMMUNITY_ID


async def test_a_failing_core_is_retried(fake, stub, channel):
    real_submit, failures = stub.submit, []

    async def flaky(msg):
        if len(failures) < 1:
            failures.append(msg)
            raise RuntimeError("database is locked")
        await real_submit(msg)

    stub.submit = flaky
    fake.push_update({"message": fk.group_message(fk.GROUP_ID, 90, fk.user(fk.ZHAO, "赵"), "楼道灯不亮")})
    assert await fake.until(lambda: len(stub.submitted) == 1)
    assert failures[0] == stub.submitted[0]  # the same message, same platform_id: the core dedupes


async def test_the_token_stays_out_of_the_log(fake, stub, caplog):
    caplog.set_level(logging.INFO)  # the production level (DEBUG shows PTB's own URL logging)
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    ch = make_channel(fake)
    await ch.start(stub)
    try:
        await ch.send(out("bh3", "x"))
    finally:
        await ch.stop()
    assert fk.TOKEN not in caplog.text
