"""The WeCom app adapter: URL verification and AES messages with Tencent's official WeCom callback
sample (fixtures/wecom/README.md), staff text commands, app messages to the fake WeCom API."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import httpx
import pytest
from fakes.wechat_api import SECRETS, StubApp, fixture, vector, wecom_encrypted, with_fields

from bot.channels.base import RecipientUnreachable
from bot.channels.web import build_asgi_app
from bot.channels.wecom import NOT_TEXT_REPLY, WeComChannel
from handlers.messages import OutgoingMessage
from tests.support import database_url, fail_statements

OFFICIAL = vector("wecom/official_wecom_callback_sample_vector.json")
TOKEN, AES, CORP = OFFICIAL["token"], OFFICIAL["encoding_aes_key"], OFFICIAL["corp_id"]
WECHATPY = vector("wecom/wechatpy_tests_test_crypto_vectors.json")


async def _env(tmp_path, monkeypatch, fake_api, paths=None):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    app = StubApp(database_url(tmp_path, "wecom.db"), fake_api.base_url, paths)
    channel = WeComChannel.from_settings(app.settings, app.communities)
    await channel.start(app)
    return app, channel


@pytest.fixture
async def env(tmp_path, monkeypatch, fake_api):
    app, channel = await _env(tmp_path, monkeypatch, fake_api)
    asgi = build_asgi_app(app, [channel])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://linli.test") as client:
        yield app, channel, client, fake_api
    await channel.stop()
    app.db.dispose()


def staff_message(userid: str, text: str, msg_id: str) -> str:
    return with_fields(fixture("wecom/test_parse_text_message.xml"), FromUserName=userid, Content=text, MsgId=msg_id,
                       AgentID="218")


# ----------------------------------------------------------------- verification

async def test_url_verification_with_the_official_sample(env):
    _, _, client, _ = env
    v = OFFICIAL["verify_url"]
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    r = await client.get("/wecom/wxtest", params=params)
    assert r.status_code == 200 and r.text == v["echostr_plaintext_computed_by_wechatpy_1_8_18"]


async def test_url_verification_with_wrong_signature_is_403(env):
    _, _, client, _ = env
    v = OFFICIAL["verify_url"]
    params = {"msg_signature": v["msg_signature"], "timestamp": v["timestamp"], "nonce": "1", "echostr": v["echostr"]}
    assert (await client.get("/wecom/wxtest", params=params)).status_code == 403


async def test_wechatpy_vectors_do_not_verify_with_another_corps_token(env):
    _, _, client, _ = env
    for case in ("verify_url_ok", "verify_url_must_fail"):
        v = WECHATPY[case]
        params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
        assert (await client.get("/wecom/wxtest", params=params)).status_code == 403


async def test_wechatpy_vectors_through_wechatpys_crypto():
    """The same crypto the adapter uses, on wechatpy's own pass / must-fail vectors."""
    from wechatpy.enterprise.crypto import WeChatCrypto
    from wechatpy.exceptions import InvalidSignatureException

    crypto = WeChatCrypto(WECHATPY["token"], WECHATPY["encoding_aes_key"], WECHATPY["corp_id"])
    ok = WECHATPY["verify_url_ok"]
    assert crypto.check_signature(ok["msg_signature"], ok["timestamp"], ok["nonce"], ok["echostr"]) == \
        ok["echostr_plaintext_computed_by_wechatpy_1_8_18"]
    bad = WECHATPY["verify_url_must_fail"]
    with pytest.raises(InvalidSignatureException):
        crypto.check_signature(bad["msg_signature"], bad["timestamp"], bad["nonce"], bad["echostr"])


# ----------------------------------------------------------------- messages

async def test_official_encrypted_sample_message_reaches_core_from_the_staff_member(env):
    app, _, client, _ = env
    d = OFFICIAL["decrypt_message"]
    params = {k: d[k] for k in ("msg_signature", "timestamp", "nonce")}
    r = await client.post("/wecom/wxtest", params=params, content=d["post_body"].encode())
    assert r.status_code == 200
    [msg] = app.submitted
    # userid "mycreate" is bh3's wecom_userid in the community file
    assert (msg.sender, msg.text, msg.chat, msg.channel) == ("bh3", "hello", "private", "wecom")
    assert msg.platform_id == "4561255354251345929"


async def test_staff_command_over_wecom(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, staff_message("chen_jing", "/accept 12", "9001"))
    r = await client.post("/wecom/wxtest", params=query, content=body.encode())
    assert r.status_code == 200
    [msg] = app.submitted
    assert (msg.sender, msg.text, msg.platform_id) == ("gw1", "/accept 12", "9001")


async def test_unknown_userid_gets_a_platform_sender(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, staff_message("stranger", "/mine", "9002"))
    await client.post("/wecom/wxtest", params=query, content=body.encode())
    assert app.submitted[0].sender == "wecom:stranger"


async def test_wecom_retry_is_submitted_once(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, staff_message("mycreate", "/done 3 已修好", "9003"))
    for _ in range(3):
        assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 200
    assert len(app.submitted) == 1


async def test_bad_signature_403_nothing_submitted(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, staff_message("mycreate", "/accept 1", "9004"))
    query["msg_signature"] = "0" * 40
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 403
    assert app.submitted == []


async def test_message_encrypted_for_another_corp_is_403(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, "wwOTHERCORP", staff_message("mycreate", "/accept 1", "9005"))
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 403
    assert app.submitted == []


async def test_image_gets_an_encrypted_reply_asking_for_a_command(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, fixture("wecom/test_parse_image_message.xml"))
    r = await client.post("/wecom/wxtest", params=query, content=body.encode())
    assert r.status_code == 200 and "<Encrypt>" in r.text
    from wechatpy.enterprise.crypto import WeChatCrypto

    sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", r.text).group(1)
    ts = re.search(r"<TimeStamp>(\d+)</TimeStamp>", r.text).group(1)
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]>", r.text).group(1)
    assert NOT_TEXT_REPLY in WeChatCrypto(TOKEN, AES, CORP).decrypt_message(r.text, sig, ts, nonce)
    assert app.submitted == []


async def test_events_answer_empty(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, fixture("wecom/test_parse_subscribe_event.xml"))
    r = await client.post("/wecom/wxtest", params=query, content=body.encode())
    assert r.status_code == 200 and r.text == "" and app.submitted == []


async def test_xxe_inside_encrypted_payload_is_400(env):
    app, _, client, _ = env
    xml = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           "<xml><MsgType>text</MsgType><FromUserName>mycreate</FromUserName><Content>&x;</Content></xml>")
    query, body = wecom_encrypted(TOKEN, AES, CORP, xml)
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 400
    assert app.submitted == []


@pytest.mark.parametrize("body", ["<xml><Encrypt>", "<!DOCTYPE x [<!ENTITY a 'b'>]><xml><Encrypt>&a;</Encrypt></xml>",
                                  "plain text"])
async def test_malformed_outer_xml_is_400(env, body):
    app, _, client, _ = env
    params = {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "2"}
    assert (await client.post("/wecom/wxtest", params=params, content=body.encode())).status_code in (400, 403)
    assert app.submitted == []


async def test_oversized_is_413(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, staff_message("mycreate", "x" * 70000, "9006"))
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 413


async def test_community_without_wecom_is_404(env):
    _, _, client, _ = env
    assert (await client.get("/wecom/wxplain", params={"echostr": "x"})).status_code == 404


# ----------------------------------------------------------------- delivery

_mids = iter(range(100, 10_000))


def out(to="bh3", text="新工单 #7：3号楼 楼道灯不亮\n报告人：赵女士\n/accept 7 接单", ticket=7):
    return OutgoingMessage(id=next(_mids), community="wxtest", to=to, text=text, event="dispatched", ticket=ticket, at=None)


async def test_task_goes_to_staff_as_a_text_app_message(env):
    _, channel, _, api = env
    assert channel.can_reach("wxtest", "bh3", None) and not channel.can_reach("wxtest", "r_zhao", None)
    assert not channel.can_reach("wxtest", "group", None)
    msg = out()
    await channel.send(msg)
    await channel.send(msg)  # the same outbox row again: sent once
    [fetch] = api.token_fetches
    assert fetch.path == "/cgi-bin/gettoken" and fetch.query == {"corpid": CORP, "corpsecret": "wecom-secret-for-tests"}
    [call] = api.sent("message/send")
    assert call.body["touser"] == "mycreate" and call.body["agentid"] == 218 and call.body["msgtype"] == "text"
    assert call.body["text"]["content"].startswith("新工单 #7")


async def test_a_failed_delivery_record_after_the_send_never_sends_again(env):
    app, channel, _, api = env
    failed = fail_statements(app.db.engine, lambda sql: sql.lstrip().upper().startswith("INSERT INTO WECHAT_DELIVERY"))
    msg = out()
    with contextlib.suppress(Exception):  # (the outbox would retry the row after any error)
        await channel.send(msg)
    await channel.send(msg)
    assert len(failed) == 1 and len(api.sent("message/send")) == 1


async def test_textcard_when_a_ticket_url_is_configured(tmp_path, monkeypatch, fake_api):
    source = Path(__file__).parent / "fixtures" / "wechat_community.yaml"
    text = source.read_text(encoding="utf-8").replace(
        "  agent_id: 218\n", "  agent_id: 218\n  ticket_url: https://linli.example.org/t/{ticket}\n")
    path = tmp_path / "wxtest.yaml"
    path.write_text(text, encoding="utf-8")
    app, channel = await _env(tmp_path, monkeypatch, fake_api, [path])
    await channel.send(out())
    [call] = fake_api.sent("message/send")
    assert call.body["msgtype"] == "textcard"
    card = call.body["textcard"]
    assert card["title"] == "新工单 #7：3号楼 楼道灯不亮" and card["url"] == "https://linli.example.org/t/7"
    assert "报告人：赵女士" in card["description"]
    await channel.stop()
    app.db.dispose()


async def test_unknown_user_is_unreachable(env):
    _, channel, _, api = env
    api.fail("message/send", 81013)
    with pytest.raises(RecipientUnreachable):
        await channel.send(out())


async def test_core_failure_is_500_and_the_retry_goes_through(env):
    app, _, client, _ = env
    query, body = wecom_encrypted(TOKEN, AES, CORP, staff_message("mycreate", "/mine", "9010"))
    app.fail_submit = True
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 500
    app.fail_submit = False
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 200
    assert [m.text for m in app.submitted] == ["/mine"]


async def test_bad_msgid_is_400(env):
    app, _, client, _ = env
    xml = staff_message("mycreate", "/mine", "9011").replace("<MsgId>9011</MsgId>", "<MsgId>x</MsgId>")
    query, body = wecom_encrypted(TOKEN, AES, CORP, xml)
    assert (await client.post("/wecom/wxtest", params=query, content=body.encode())).status_code == 400
    assert app.submitted == []
