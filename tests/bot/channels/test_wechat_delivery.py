"""Official Account delivery against the local fake WeChat API: customer-service messages inside the
48 h window and its count, template messages outside it, queue + admins told otherwise; access
tokens fetched from the configured API base, cached, refreshed, never logged."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import pytest
from fakes.wechat_api import FIXTURES, SECRETS, StubApp
from sqlmodel import select

from bot.channels.base import DeliveryError, RecipientUnreachable
from bot.channels.wechat import WeChatChannel, WeChatExtras
from bot.channels.wechat_common import OAClient, WorkClient
from handlers.messages import Button, OutgoingMessage
from storage.wechat_state import WeChatQueued, WeChatWindow
from tests.support import database_url, fail_statements, updates

ZHAO = "oZHAO0000000000000000000001"


@pytest.fixture
async def env(tmp_path, monkeypatch, fake_api):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    app = StubApp(database_url(tmp_path, "wx.db"), fake_api.base_url)
    channel = WeChatChannel.from_settings(app.settings, app.communities)
    await channel.start(app)
    yield app, channel, fake_api
    await channel.stop()
    app.db.dispose()


_ids = iter(range(1, 10_000))


def queued(app) -> list[WeChatQueued]:
    with app.db.session() as s:
        return list(s.exec(select(WeChatQueued)).all())


def out(to="r_zhao", text="您的报修已受理，工单 #1。", event="ticket_opened", community="wxtest", ticket=1, **kw):
    return OutgoingMessage(id=next(_ids), community=community, to=to, text=text, event=event, ticket=ticket,
                           at=None, **kw)


def test_clients_send_every_call_to_the_api_base():
    oa = OAClient("appid", "secret", api_base="http://127.0.0.1:9/")
    work = WorkClient("corp", "secret", api_base="http://127.0.0.1:9/cgi-bin")
    assert oa.API_BASE_URL == "http://127.0.0.1:9/cgi-bin/" and work.API_BASE_URL == "http://127.0.0.1:9/cgi-bin/"
    assert oa._redirect("https://api.weixin.qq.com/cgi-bin/token") == "http://127.0.0.1:9/cgi-bin/token"
    assert work._redirect("https://qyapi.weixin.qq.com/cgi-bin/gettoken") == "http://127.0.0.1:9/cgi-bin/gettoken"
    assert OAClient("a", "b").API_BASE_URL == "https://api.weixin.qq.com/cgi-bin/"


async def test_can_reach(env):
    app, channel, _ = env
    assert channel.can_reach("wxtest", "r_zhao", None)
    assert channel.can_reach("wxtest", "wx:oSomeone", None)
    assert not channel.can_reach("wxtest", "group", "x")
    assert not channel.can_reach("wxtest", "r_new", None)  # no openid linked
    app.identities.link("wxtest", "r_new", "wechat", "oNEW")
    assert channel.can_reach("wxtest", "r_new", None)
    assert not channel.can_reach("nosuch", "r_zhao", None)
    app.identities.link("wxtest", "bh3", "wechat", "oBH3")
    assert not channel.can_reach("wxtest", "bh3", None)  # staff on the WeCom app get their messages there
    app.identities.link("wxplain", "bh1", "wechat", "oBH1")
    assert channel.can_reach("wxplain", "bh1", None)  # no WeCom in that community


async def test_in_window_customer_service_message_token_fetched_once(env):
    app, channel, api = env
    channel.touch("wxtest", ZHAO)
    await channel.send(out(buttons=(Button("接单", "/accept 1"),)))
    await channel.send(out(text="第二条"))
    [fetch] = api.token_fetches
    assert fetch.path == "/cgi-bin/token"
    assert fetch.query == {"grant_type": "client_credential", "appid": "wx2c2769f8efd9abc2",
                           "secret": "oa-secret-for-tests"}
    sent = api.sent("message/custom/send")
    assert [c.body["touser"] for c in sent] == [ZHAO, ZHAO]
    assert sent[0].body["msgtype"] == "text" and "/accept 1" in sent[0].body["text"]["content"]
    assert sent[1].body["text"]["content"] == "第二条"
    assert api.sent("message/template/send") == []


async def test_same_outbox_row_is_sent_once(env):
    _, channel, api = env
    channel.touch("wxtest", ZHAO)
    msg = out()
    await channel.send(msg)
    await channel.send(msg)
    assert len(api.sent("message/custom/send")) == 1


async def test_a_failed_bookkeeping_write_after_the_send_never_sends_again(env):
    app, channel, api = env
    channel.touch("wxtest", ZHAO)
    failed = fail_statements(app.db.engine, updates("wechat_window", "cs_sent"), times=1)  # "database is locked"
    msg = out()
    with contextlib.suppress(Exception):  # (the outbox would retry the row after any error)
        await channel.send(msg)
    await channel.send(msg)
    assert len(failed) == 1 and len(api.sent("message/custom/send")) == 1
    # The count is written later, once: the window's limit stays right.
    await channel.send(out(text="第二条"))
    with app.db.session() as s:
        assert s.get(WeChatWindow, ("wxtest", ZHAO)).cs_sent == 2


async def test_expired_token_is_refreshed_and_the_call_retried(env):
    _, channel, api = env
    channel.touch("wxtest", ZHAO)
    await channel.send(out())
    api.expire_tokens()
    await channel.send(out(text="again"))
    assert len(api.token_fetches) == 2
    assert [c.body["text"]["content"] for c in api.sent("message/custom/send")][-1] == "again"


async def test_tokens_and_secrets_are_never_logged(env, caplog):
    _, channel, api = env
    caplog.set_level(logging.DEBUG)
    channel.touch("wxtest", ZHAO)
    await channel.send(out())
    api.expire_tokens()
    api.fail("message/custom/send", 40001, times=5)  # refused even with a fresh token
    with pytest.raises(DeliveryError) as raised:
        await channel.send(out(text="x"))
    assert not isinstance(raised.value, RecipientUnreachable)
    assert len(api.token_fetches) == 2  # one refresh, then retried later by the outbox (no loop)
    assert "access_token=***" in caplog.text  # urllib3 logged the URLs, redacted
    for secret in ("OA-TOKEN-", "oa-secret-for-tests"):
        assert secret not in caplog.text
        assert secret not in str(raised.value)


async def test_outside_48h_uses_the_template_for_that_kind(env):
    app, channel, api = env
    channel.touch("wxtest", ZHAO)
    app.time += timedelta(hours=49)
    await channel.send(out(event="resolution_check", text="工单 #1 已处理完毕，修好了吗？回复 1 好了 / 2 没好", ticket=1))
    assert api.sent("message/custom/send") == []
    [tpl] = api.sent("message/template/send")
    assert tpl.body["touser"] == ZHAO and tpl.body["template_id"] == "TPL-RESOLUTION-CHECK"
    assert tpl.body["data"]["first"]["value"].startswith("工单 #1 已处理完毕")
    assert tpl.body["data"]["keyword1"]["value"] == "#1"
    assert tpl.body["data"]["keyword2"]["value"] == "2026-03-04 10:00"  # 02:00 UTC shown in community time (UTC+8)
    assert app.notices == []


async def test_outside_48h_without_template_is_queued_and_admins_told(env):
    app, channel, api = env
    openid = "oPLAINRESIDENT"
    channel.touch("wxplain", openid)
    app.time += timedelta(hours=48, seconds=1)
    await channel.send(out(community="wxplain", to=f"wx:{openid}", event="resolution_check", text="修好了吗？", ticket=4))
    assert api.sent("message/custom/send") == [] and api.sent("message/template/send") == []
    [(community, notice)] = app.notices
    assert community == "wxplain" and "#4" in notice and "修好了吗" in notice
    [row] = queued(app)
    assert row.sent_at is None and row.openid == openid
    # The resident writes again: the window opens and the queued message goes out.
    channel.touch("wxplain", openid)
    await channel.submitter.drain()
    [cs] = api.sent("message/custom/send")
    assert cs.body["touser"] == openid and cs.body["text"]["content"] == "修好了吗？"
    assert queued(app)[0].sent_at is not None


async def test_45015_falls_back_to_template(env):
    app, channel, api = env
    channel.touch("wxtest", ZHAO)
    api.fail("message/custom/send", 45015)
    await channel.send(out(event="resolution_check"))
    assert len(api.sent("message/custom/send")) == 1 and len(api.sent("message/template/send")) == 1
    # the window is known closed now: the next one goes straight to the template
    await channel.send(out(event="resolution_check"))
    assert len(api.sent("message/custom/send")) == 1 and len(api.sent("message/template/send")) == 2


async def test_45047_without_template_queues_and_tells_admins(env):
    app, channel, api = env
    channel.touch("wxtest", ZHAO)
    api.fail("message/custom/send", 45047)
    await channel.send(out(event="reminder", text="提醒"))  # no template for "reminder" and no default
    assert app.notices and "赵女士" in app.notices[0][1]
    assert len(queued(app)) == 1


async def test_count_limit_is_tracked_locally(env):
    app, channel, api = env
    channel.extras["wxtest"] = WeChatExtras(cs_limit=2)  # as `wechat: {cs_limit: 2}` in the community file
    channel.touch("wxtest", ZHAO)
    for _ in range(3):
        await channel.send(out(event="resolution_check"))
    assert len(api.sent("message/custom/send")) == 2 and len(api.sent("message/template/send")) == 1
    channel.touch("wxtest", ZHAO)  # a new message from the resident resets the count
    await channel.send(out(event="resolution_check"))
    assert len(api.sent("message/custom/send")) == 3


async def test_template_refused_is_queued_not_dropped(env):
    app, channel, api = env
    api.fail("message/template/send", 40037)  # invalid template id
    await channel.send(out(event="resolution_check"))
    assert len(app.notices) == 1
    assert len(queued(app)) == 1


async def test_unfollowed_resident_is_unreachable(env):
    _, channel, api = env
    channel.touch("wxtest", ZHAO)
    api.fail("message/custom/send", 43004)
    with pytest.raises(RecipientUnreachable):
        await channel.send(out())


async def test_a_notice_out_of_reach_is_queued_without_another_notice(env):
    app, channel, api = env
    await channel.send(out(community="wxplain", to="wx:oADMIN", event="notice", text="管理员通知"))
    assert app.notices == []
    assert len(queued(app)) == 1


async def test_person_with_two_openids_gets_the_one_that_wrote_last(env):
    app, channel, api = env
    app.identities.link("wxtest", "r_zhao", "wechat", "oZHAO_NEW_PHONE")
    channel.touch("wxtest", ZHAO)
    app.time += timedelta(minutes=5)
    channel.touch("wxtest", "oZHAO_NEW_PHONE")
    await channel.send(out())
    assert api.sent("message/custom/send")[0].body["touser"] == "oZHAO_NEW_PHONE"


async def test_api_down_is_retried_later_without_leaking_the_url(env, caplog):
    _, channel, api = env
    channel.touch("wxtest", ZHAO)
    await channel.send(out())  # a token is cached now
    api.stop()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DeliveryError) as raised:
        await channel.send(out(text="down"))
    assert not isinstance(raised.value, RecipientUnreachable) and raised.value.retry_after == 30
    assert "access_token" not in str(raised.value) and "OA-TOKEN" not in caplog.text


def _registry_with(tmp_path, section_extra: str, after: str):
    from storage.community import CommunityRegistry

    source = FIXTURES / "wechat_community.yaml"
    path = tmp_path / "wxtest.yaml"
    path.write_text(source.read_text(encoding="utf-8").replace(after, after + section_extra), encoding="utf-8")
    return CommunityRegistry.load([path])


@pytest.mark.parametrize(("extra", "message"), [
    ("  cs_limit: 0\n", "wechat.cs_limit"),
    ("  templtes: {a: b}\n", "wechat.templtes: unknown key"),
    ("  template_fields: {first: '{txt}'}\n", "wechat.template_fields"),
])
def test_bad_adapter_keys_are_named(tmp_path, monkeypatch, extra, message):
    from storage.community import CommunityError

    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    registry = _registry_with(tmp_path, extra, "  token: spamtest\n")
    with pytest.raises(CommunityError, match="community wxtest: " + message):
        WeChatChannel.from_settings(None, registry)


def test_adapter_keys_are_read(tmp_path, monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    registry = _registry_with(tmp_path, "  cs_limit: 5\n  welcome: 欢迎！\n", "  token: spamtest\n")
    channel = WeChatChannel.from_settings(None, registry)
    assert channel._extras("wxtest").cs_limit == 5 and channel._extras("wxtest").welcome == "欢迎！"


def test_bad_wecom_ticket_url_is_named(tmp_path, monkeypatch):
    from bot.channels.wecom import WeComChannel
    from storage.community import CommunityError

    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    registry = _registry_with(tmp_path, "  ticket_url: linli.example.org/{id}\n", "  agent_id: 218\n")
    with pytest.raises(CommunityError, match="community wxtest: wecom.ticket_url"):
        WeComChannel.from_settings(None, registry)
