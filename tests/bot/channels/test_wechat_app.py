"""End to end through the real ``LinliApp``: a resident reports on the Official Account (safe mode),
WeChat retries, the building head works the ticket over WeCom, the resolution checks fall outside
the 48-hour window (template message; no template → queued and the admins told), and the callback
server runs as a live uvicorn on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakes.wechat_api import (
    COMMUNITY_FILES,
    SECRETS,
    fixture,
    oa_encrypted,
    oa_plain_query,
    stamp,
    vector,
    wecom_encrypted,
    with_fields,
)
from sqlmodel import select

from bot.app import LinliApp
from bot.channels.web import WebServer, build_asgi_app
from bot.channels.wechat import WeChatChannel
from bot.channels.wecom import WeComChannel
from bot.clock import ManualClock
from bot.config import Settings
from handlers.messages import IncomingMessage
from storage.models import Outbox, Ticket
from storage.wechat_state import WeChatQueued
from tests.support import database_url

OA = vector("wechat/official_oa_wxbizmsgcrypt_sample_vector.json")
WORK = vector("wecom/official_wecom_callback_sample_vector.json")
ZHAO = "oZHAO0000000000000000000001"
# Monday 2026-03-02 10:00 in Shanghai: outside quiet hours.
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def env(tmp_path, monkeypatch, fake_api):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    clock = ManualClock(START)
    settings = Settings(database_url=database_url(tmp_path, "linli.db"), wechat_api_base=fake_api.base_url)
    app = LinliApp.build(settings=settings, community_paths=COMMUNITY_FILES, clock=clock)
    wechat = WeChatChannel.from_settings(settings, app.communities)
    wecom = WeComChannel.from_settings(settings, app.communities)
    for channel in (wechat, wecom):
        app.add_channel(channel)
        await channel.start(app)
    asgi = build_asgi_app(app, app.channels)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://linli.test") as client:
        client.clock = clock  # callbacks are signed with the app's time
        yield app, clock, client, fake_api
    for channel in (wechat, wecom):
        await channel.stop()
    app.db.dispose()


async def resident_says(client, text: str, msg_id: str, openid: str = ZHAO):
    xml = with_fields(fixture("wechat/test_parse_text_message.xml"), FromUserName=openid, Content=text, MsgId=msg_id)
    query, body = oa_encrypted(OA["token"], OA["encoding_aes_key"], OA["app_id"], xml, stamp(client.clock.now()))
    return await client.post("/wechat/wxtest", params=query, content=body.encode())


async def staff_says(client, userid: str, text: str, msg_id: str):
    xml = with_fields(fixture("wecom/test_parse_text_message.xml"), FromUserName=userid, Content=text, MsgId=msg_id)
    query, body = wecom_encrypted(WORK["token"], WORK["encoding_aes_key"], WORK["corp_id"], xml)
    return await client.post("/wecom/wxtest", params=query, content=body.encode())


def tickets(app) -> list[Ticket]:
    with app.db.session() as s:
        return list(s.exec(select(Ticket)).all())


def outbox(app) -> list[Outbox]:
    with app.db.session() as s:
        return list(s.exec(select(Outbox).order_by(Outbox.id)).all())


def texts_to(api, openid: str) -> list[str]:
    return [c.body["text"]["content"] for c in api.sent("message/custom/send") if c.body["touser"] == openid]


async def test_report_retries_and_staff_work_over_wecom(env):
    app, clock, client, api = env
    for _ in range(3):  # WeChat's retries of one message
        r = await resident_says(client, "3号楼2单元楼道灯不亮了", "6054768590064719001")
        assert r.status_code == 200 and r.text == "success"
    [ticket] = tickets(app)
    assert ticket.building == "3" and ticket.status == "open"
    # the resident's acknowledgement went out as a customer-service message, once
    [ack] = texts_to(api, ZHAO)
    assert f"#{ticket.id}" in ack
    # the building head got the task as a WeCom app message
    [task] = [c for c in api.sent("message/send") if c.body["touser"] == "mycreate"]
    assert f"#{ticket.id}" in task.body["text"]["content"] and task.body["agentid"] == 218

    clock.set(START + timedelta(minutes=10))
    assert (await staff_says(client, "mycreate", f"/accept {ticket.id}", "7001")).status_code == 200
    assert tickets(app)[0].status == "accepted"
    clock.set(START + timedelta(hours=2))
    await staff_says(client, "mycreate", f"/done {ticket.id} 已换灯泡", "7002")
    assert tickets(app)[0].status == "resolved"
    # the resolution check reached the resident inside the 48 h window
    assert len(texts_to(api, ZHAO)) == 2
    # the resident answers: fixed → closed
    clock.set(START + timedelta(hours=3))
    await resident_says(client, "好了", "6054768590064719002")
    assert tickets(app)[0].status == "closed"


async def test_forged_request_is_refused_and_its_msgid_still_works(env):
    app, _, client, api = env
    xml = with_fields(fixture("wechat/test_parse_text_message.xml"), FromUserName=ZHAO,
                      Content="3号楼2单元楼道灯不亮了", MsgId="6054768590064719050")
    query, body = oa_encrypted(OA["token"], OA["encoding_aes_key"], OA["app_id"], xml, stamp(client.clock.now()))
    forged = {**query, "msg_signature": "0" * 40}
    assert (await client.post("/wechat/wxtest", params=forged, content=body.encode())).status_code == 403
    forged_token = oa_encrypted("guessed-token", OA["encoding_aes_key"], OA["app_id"], xml, stamp(client.clock.now()))
    assert (await client.post("/wechat/wxtest", params=forged_token[0], content=forged_token[1].encode())).status_code == 403
    assert tickets(app) == [] and api.calls == []
    assert (await client.post("/wechat/wxtest", params=query, content=body.encode())).status_code == 200
    assert len(tickets(app)) == 1


async def test_staff_command_from_someone_not_allowed_changes_nothing(env):
    app, clock, client, api = env
    await resident_says(client, "3号楼2单元楼道灯不亮了", "6054768590064719101")
    [ticket] = tickets(app)
    await staff_says(client, "wang_gang", f"/accept {ticket.id}", "7101")  # bh5: not this building
    assert tickets(app)[0].status == "open"
    refusals = [c for c in api.sent("message/send") if c.body["touser"] == "wang_gang"]
    assert len(refusals) == 1


async def test_late_resolution_checks_use_the_template(env):
    app, clock, client, api = env
    await resident_says(client, "3号楼2单元楼道灯不亮了", "6054768590064719201")
    [ticket] = tickets(app)
    await staff_says(client, "mycreate", f"/done {ticket.id} 已修好", "7201")
    assert api.sent("message/template/send") == []
    # 24 h later: still inside the window → customer-service message
    clock.set(START + timedelta(hours=24, minutes=1))
    await app.tick()
    assert len(texts_to(api, ZHAO)) == 3 and api.sent("message/template/send") == []
    # 72 h later: outside the window → template message for "resolution_check"
    clock.set(START + timedelta(hours=72, minutes=1))
    await app.tick()
    [tpl] = api.sent("message/template/send")
    assert tpl.body["touser"] == ZHAO and tpl.body["template_id"] == "TPL-RESOLUTION-CHECK"
    assert f"#{ticket.id}" in tpl.body["data"]["first"]["value"]
    assert all(row.sent_at is not None for row in outbox(app) if row.recipient == "r_zhao")


async def test_without_template_late_message_is_queued_and_admins_told(env):
    app, clock, client, api = env
    openid = "oPLAINRESIDENT0000000000001"
    xml = with_fields(fixture("wechat/test_parse_text_message.xml"), FromUserName=openid,
                      Content="1号楼楼道灯不亮了", MsgId="6054768590064719301")
    r = await client.post("/wechat/wxplain", params=oa_plain_query("plaintoken", stamp(clock.now())), content=xml.encode())
    assert r.status_code == 200
    [ticket] = [t for t in tickets(app) if t.community == "wxplain"]
    # wxplain has no WeCom: its building head reports done through another channel
    clock.set(START + timedelta(hours=1))
    await app.submit(IncomingMessage(community="wxplain", chat="private", sender="bh1", text=f"/done {ticket.id}",
                                     at=clock.now(), platform_id="sim-1", channel="simulated"))
    assert len(texts_to(api, openid)) == 2  # acknowledgement + first resolution check, inside the window
    clock.set(START + timedelta(hours=25, minutes=1))
    await app.tick()
    assert len(texts_to(api, openid)) == 3  # the 24 h re-ask: still inside the window
    clock.set(START + timedelta(hours=73, minutes=1))
    await app.tick()  # the 72 h re-ask: outside the window, no template configured
    assert len(texts_to(api, openid)) == 3 and api.sent("message/template/send") == []
    with app.db.session() as s:
        [queued] = s.exec(select(WeChatQueued)).all()
    assert queued.openid == openid and queued.sent_at is None and queued.event == "resolution_check"
    notices = [row for row in outbox(app) if row.recipient == "admin2" and row.event == "notice"]
    assert len(notices) == 1 and f"#{ticket.id}" in notices[0].text
    # the outbox row counts as handled (queued here), not failed or retried for ever
    late = [row for row in outbox(app) if row.recipient == f"wx:{openid}" and row.event == "resolution_check"]
    assert all(row.sent_at is not None for row in late)
    # the resident writes again → the queued message goes out first thing
    clock.set(START + timedelta(hours=80))
    xml = with_fields(xml, Content="在吗", MsgId="6054768590064719302")
    await client.post("/wechat/wxplain", params=oa_plain_query("plaintoken", stamp(clock.now())), content=xml.encode())
    wechat = next(c for c in app.channels if c.name == "wechat")
    await wechat.submitter.drain()
    assert texts_to(api, openid).count(queued.text) == 2  # the 24 h one and now the queued 72 h one
    with app.db.session() as s:
        assert s.exec(select(WeChatQueued)).one().sent_at is not None


async def test_live_uvicorn_server(env, fake_api):
    app, _, _, _ = env
    server = WebServer(app, app.channels, host="127.0.0.1", port=0)
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.bound_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).json() == {"ok": True, "wechat": True, "wecom": True}
            v = WORK["verify_url"]
            r = await client.get("/wecom/wxtest", params={k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})
            assert r.text == v["echostr_plaintext_computed_by_wechatpy_1_8_18"]
            r = await client.get("/wechat/wxplain", params={**oa_plain_query("plaintoken"), "echostr": "42"})
            assert r.text == "42"
    finally:
        await server.stop()


async def test_busy_port_is_a_clear_error(env):
    import socket

    app, _, _, _ = env
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = WebServer(app, app.channels, host="127.0.0.1", port=busy.getsockname()[1])
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            await server.start()
        await server.stop()
