"""The Official Account callback through the real ASGI app, wechatpy parsing and crypto, against
Tencent's sample vector and wechatpy's documented message XML (see fixtures/wechat/README.md).

The app here is :class:`StubApp` (real community file, database and identities; ``submit`` records),
so these tests pin the adapter, not the core's wording. End-to-end tests: test_wechat_app.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakes.wechat_api import (
    SECRETS,
    StubApp,
    fixture,
    oa_encrypted,
    oa_plain_query,
    sign,
    stamp,
    vector,
    with_fields,
)

from bot.channels.web import build_asgi_app
from bot.channels.wechat import IMAGE_REPLY, VOICE_REPLY, WeChatChannel
from tests.support import database_url

OA = vector("wechat/official_oa_wxbizmsgcrypt_sample_vector.json")
TOKEN, AES, APPID = OA["token"], OA["encoding_aes_key"], OA["app_id"]


@pytest.fixture
async def env(tmp_path, monkeypatch, fake_api):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    app = StubApp(database_url(tmp_path, "wx.db"), fake_api.base_url)
    channel = WeChatChannel.from_settings(app.settings, app.communities)
    assert channel is not None
    await channel.start(app)
    asgi = build_asgi_app(app, [channel])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://linli.test") as client:
        yield app, channel, client
    await channel.stop()
    app.db.dispose()


async def post_plain(client, xml: str, community: str = "wxplain", token: str = "plaintoken", **query):
    params = {**oa_plain_query(token), **query}
    return await client.post(f"/wechat/{community}", params=params, content=xml.encode("utf-8"))


def test_from_settings_none_without_wechat(tmp_path, monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    from storage.community import CommunityRegistry

    tg = CommunityRegistry.load([_fixture_path("telegram/community.yaml")])
    assert WeChatChannel.from_settings(None, tg) is None


def _fixture_path(name):
    from fakes.wechat_api import FIXTURES

    return FIXTURES / name


# ----------------------------------------------------------------- verification

async def test_get_verification_answers_echostr(env):
    _, _, client = env
    params = {**oa_plain_query("plaintoken"), "echostr": "5837397520623183215"}
    r = await client.get("/wechat/wxplain", params=params)
    assert r.status_code == 200 and r.text == "5837397520623183215"


async def test_get_verification_bad_signature_403(env):
    _, _, client = env
    params = {**oa_plain_query("wrong-token"), "echostr": "x"}
    r = await client.get("/wechat/wxplain", params=params)
    assert r.status_code == 403 and "x" not in r.text


async def test_unknown_community_404(env):
    _, _, client = env
    r = await client.get("/wechat/nosuch", params=oa_plain_query("plaintoken"))
    assert r.status_code == 404


async def test_healthz(env):
    _, _, client = env
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True


# ----------------------------------------------------------------- message types (plain mode)

async def test_text_message_reaches_core_as_private_message(env):
    app, _, client = env
    r = await post_plain(client, fixture("wechat/test_parse_text_message.xml"))
    assert r.status_code == 200 and r.text == "success"
    [msg] = app.submitted
    assert (msg.community, msg.chat, msg.channel, msg.chat_ref) == ("wxplain", "private", "wechat", None)
    assert msg.sender == "wx:fromUser" and msg.text == "this is a test"
    assert msg.platform_id == "1234567890123456" and msg.at == app.time


async def test_known_openid_resolves_to_person(env):
    app, _, client = env
    xml = with_fields(fixture("wechat/test_parse_text_message.xml"), FromUserName="oZHAO0000000000000000000001")
    params = oa_plain_query(TOKEN)  # wxtest accepts plain requests too (WeChat's compatible mode)
    r = await client.post("/wechat/wxtest", params=params, content=xml.encode())
    assert r.status_code == 200
    assert app.submitted[0].sender == "r_zhao"


async def test_voice_with_recognition_is_text(env):
    app, _, client = env
    r = await post_plain(client, fixture("wechat/official_doc_voice_with_recognition.xml"))
    assert r.text == "success"
    assert app.submitted[0].text == "腾讯微信团队"


async def test_voice_without_recognition_asks_for_text(env):
    app, _, client = env
    r = await post_plain(client, fixture("wechat/test_parse_voice_message.xml"))
    assert r.status_code == 200 and VOICE_REPLY in r.text and "<MsgType><![CDATA[text]]>" in r.text
    assert app.submitted == []


async def test_location_is_a_hint_and_asks_for_the_building(env):
    app, _, client = env
    r = await post_plain(client, fixture("wechat/test_parse_location_message.xml"))
    assert r.status_code == 200 and "位置信息" in r.text and "几号楼" in r.text
    [msg] = app.submitted
    assert msg.location_hint == "位置信息" and msg.text == "位置信息"


async def test_location_with_building_in_label_does_not_ask(env):
    app, _, client = env
    xml = with_fields(fixture("wechat/test_parse_location_message.xml"), Label="明月小区5号楼")
    r = await post_plain(client, xml)
    assert r.text == "success"
    assert app.submitted[0].location_hint == "明月小区5号楼"


async def test_image_gets_a_direct_reply_asking_for_words(env):
    app, _, client = env
    r = await post_plain(client, fixture("wechat/test_parse_image_message.xml"))
    assert r.status_code == 200 and IMAGE_REPLY in r.text
    assert "<ToUserName><![CDATA[fromUser]]></ToUserName>" in r.text  # the reply goes back to the sender
    assert app.submitted == []


@pytest.mark.parametrize("name", ["test_parse_video_message.xml", "test_parse_link_message.xml"])
async def test_other_media_asks_for_words(env, name):
    app, _, client = env
    r = await post_plain(client, fixture(f"wechat/{name}"))
    assert r.status_code == 200 and "文字" in r.text
    assert app.submitted == []


@pytest.mark.parametrize("name", ["test_parse_subscribe_event.xml", "test_parse_subscribe_scan_event.xml"])
async def test_subscribe_gets_welcome_and_how_to_register(env, name):
    app, _, client = env
    r = await post_plain(client, fixture(f"wechat/{name}"))
    assert r.status_code == 200 and "欢迎" in r.text and "绑定 3-2-1201" in r.text and "明月小区" in r.text
    assert app.submitted == []


@pytest.mark.parametrize("name", ["test_unsubscribe_event.xml", "test_click_event.xml", "test_parse_unknown_message.xml"])
async def test_other_events_answer_success(env, name):
    app, _, client = env
    r = await post_plain(client, fixture(f"wechat/{name}"))
    assert r.status_code == 200
    assert app.submitted == []


# ----------------------------------------------------------------- safe (encrypted) mode

async def test_official_sample_vector_decrypts_and_reaches_core(env):
    app, _, client = env
    d = OA["decrypt_message"]
    app.time = datetime.fromtimestamp(int(d["timestamp"]), UTC)  # the vector was signed then
    params = {"timestamp": d["timestamp"], "nonce": d["nonce"], "encrypt_type": "aes",
              "msg_signature": d["msg_signature"]}
    r = await client.post("/wechat/wxtest", params=params, content=d["post_body"].encode())
    assert r.status_code == 200 and r.text == "success"
    [msg] = app.submitted
    assert msg.sender == "wx:oyORnuP8q7ou2gfYjqLzSIWZf0rs" and msg.text == "abcdteT"
    assert msg.platform_id == "6054768590064713728"


async def test_official_sample_vector_with_wrong_msg_signature_is_403(env):
    app, _, client = env
    d = OA["decrypt_message"]
    app.time = datetime.fromtimestamp(int(d["timestamp"]), UTC)
    params = {"timestamp": d["timestamp"], "nonce": d["nonce"], "encrypt_type": "aes",
              "msg_signature": "0" * 40}
    r = await client.post("/wechat/wxtest", params=params, content=d["post_body"].encode())
    assert r.status_code == 403 and app.submitted == []


async def test_encrypted_passive_reply_is_encrypted(env):
    app, _, client = env
    query, body = oa_encrypted(TOKEN, AES, APPID, fixture("wechat/test_parse_image_message.xml"))
    r = await client.post("/wechat/wxtest", params=query, content=body.encode())
    assert r.status_code == 200 and "<Encrypt>" in r.text and IMAGE_REPLY not in r.text
    import re

    from wechatpy.crypto import WeChatCrypto
    ts = re.search(r"<TimeStamp>(\d+)</TimeStamp>", r.text).group(1)
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]></Nonce>", r.text).group(1)
    sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", r.text).group(1)
    plain = WeChatCrypto(TOKEN, AES, APPID).decrypt_message(r.text, sig, ts, nonce)
    assert IMAGE_REPLY in plain


async def test_encrypted_voice_and_location(env):
    app, _, client = env
    for name in ("official_doc_voice_with_recognition.xml", "test_parse_location_message.xml"):
        xml = with_fields(fixture(f"wechat/{name}"), MsgId=str(hash(name) % 10**12))
        query, body = oa_encrypted(TOKEN, AES, APPID, xml)
        assert (await client.post("/wechat/wxtest", params=query, content=body.encode())).status_code == 200
    assert [m.text for m in app.submitted] == ["腾讯微信团队", "位置信息"]


async def test_safe_mode_request_to_plain_account_is_refused(env):
    app, _, client = env
    query, body = oa_encrypted("plaintoken", AES, "wxplain0000000001", fixture("wechat/test_parse_text_message.xml"))
    r = await client.post("/wechat/wxplain", params=query, content=body.encode())
    assert r.status_code == 400 and app.submitted == []


# ----------------------------------------------------------------- retries, forgeries, hostile bodies

async def test_same_msgid_three_times_reaches_core_once_and_answers_each(env):
    app, _, client = env
    xml = fixture("wechat/test_parse_text_message.xml")
    for _ in range(3):
        r = await post_plain(client, xml)
        assert r.status_code == 200 and r.text == "success"
    assert len(app.submitted) == 1


async def test_a_replayed_old_or_future_timestamp_is_refused_in_plain_and_safe_mode(env):
    app, _, client = env
    xml = fixture("wechat/test_parse_text_message.xml")
    for at in (datetime(2023, 5, 1, tzinfo=UTC), app.time - timedelta(minutes=6), app.time + timedelta(minutes=6)):
        r = await client.post("/wechat/wxplain", params=oa_plain_query("plaintoken", stamp(at)), content=xml.encode())
        assert r.status_code == 403
        query, body = oa_encrypted(TOKEN, AES, APPID, xml, timestamp=stamp(at))
        r = await client.post("/wechat/wxtest", params=query, content=body.encode())
        assert r.status_code == 403
    assert app.submitted == []
    for path, params in (("/wechat/wxplain", {**oa_plain_query("plaintoken")}), ("/wechat/wxplain", {})):
        params.pop("timestamp", None)  # no timestamp at all
        r = await client.post(path, params=params, content=xml.encode())
        assert r.status_code == 403
    # Four minutes of clock skew are fine.
    fresh = oa_plain_query("plaintoken", stamp(app.time - timedelta(minutes=4)))
    assert (await client.post("/wechat/wxplain", params=fresh, content=xml.encode())).status_code == 200
    assert len(app.submitted) == 1


async def test_the_timestamp_window_is_configurable(env):
    app, _, _ = env
    from bot.config import Settings

    settings = Settings(database_url=app.settings.database_url, wechat_callback_max_age=3600)
    channel = WeChatChannel.from_settings(settings, app.communities)
    assert channel.max_age == timedelta(hours=1)
    assert WeChatChannel.from_settings(app.settings, app.communities).max_age == timedelta(minutes=5)


async def test_a_text_without_msgid_is_handled_once(env):
    app, _, client = env
    xml = re.sub(r"<MsgId>.*?</MsgId>", "", fixture("wechat/test_parse_text_message.xml"))
    for _ in range(2):  # WeChat's retry of the same message
        r = await post_plain(client, xml)
        assert r.status_code == 200 and r.text == "success"
    assert len(app.submitted) == 1 and app.submitted[0].platform_id is not None
    later = with_fields(xml, CreateTime="1348831861")  # another message of the same resident
    assert (await post_plain(client, later)).status_code == 200
    assert len(app.submitted) == 2


async def test_bad_signature_403_and_msgid_still_usable(env):
    app, _, client = env
    xml = with_fields(fixture("wechat/test_parse_text_message.xml"), MsgId="777")
    forged = {**oa_plain_query("plaintoken"), "signature": sign("guess", "1", "2")}
    r = await client.post("/wechat/wxplain", params=forged, content=xml.encode())
    assert r.status_code == 403 and app.submitted == []
    r = await post_plain(client, xml)
    assert r.status_code == 200 and [m.platform_id for m in app.submitted] == ["777"]


async def test_unsubscribe_closes_the_window(env):
    app, channel, client = env
    await post_plain(client, fixture("wechat/test_parse_text_message.xml"))
    assert channel._window_open("wxplain", "fromUser", app.time)
    xml = with_fields(fixture("wechat/test_unsubscribe_event.xml"), FromUserName="fromUser")
    assert (await post_plain(client, xml)).status_code == 200
    assert not channel._window_open("wxplain", "fromUser", app.time)


async def test_forged_message_does_not_open_the_window(env):
    app, channel, client = env
    forged = {**oa_plain_query("plaintoken"), "signature": "f" * 40}
    await client.post("/wechat/wxplain", params=forged, content=fixture("wechat/test_parse_text_message.xml").encode())
    assert not channel._window_open("wxplain", "fromUser", app.time)


XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&xxe;</Content>
<MsgId>1234567890123457</MsgId></xml>"""

LAUGHS = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<xml><MsgType>text</MsgType><FromUserName>a</FromUserName><Content>&lol2;</Content></xml>"""


BAD_MSGID = "<xml><FromUserName>a</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>abc</MsgId></xml>"


@pytest.mark.parametrize("body", [XXE, LAUGHS, BAD_MSGID, "<xml><MsgType>text", "not xml at all", "<xml></xml>",
                                  "<xml><FromUserName>a</FromUserName></xml>", "\udcff".encode("utf-8", "surrogatepass")])
async def test_malformed_or_entity_xml_is_400(env, body):
    app, _, client = env
    content = body if isinstance(body, bytes) else body.encode()
    r = await client.post("/wechat/wxplain", params=oa_plain_query("plaintoken"), content=content)
    assert r.status_code == 400 and app.submitted == []
    assert "root:" not in r.text


async def test_entities_inside_encrypted_payload_are_400(env):
    app, _, client = env
    query, body = oa_encrypted(TOKEN, AES, APPID, XXE)
    r = await client.post("/wechat/wxtest", params=query, content=body.encode())
    assert r.status_code == 400 and app.submitted == []


async def test_oversized_body_is_413(env):
    app, _, client = env
    big = with_fields(fixture("wechat/test_parse_text_message.xml"), Content="楼" * 30000)
    r = await post_plain(client, big)
    assert r.status_code == 413 and app.submitted == []


async def test_oversized_body_without_content_length_is_413(env):
    app, _, client = env

    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    r = await client.post("/wechat/wxplain", params=oa_plain_query("plaintoken"), content=chunks())
    assert r.status_code == 413 and app.submitted == []


async def test_core_failure_answers_500_so_wechat_retries(env):
    app, _, client = env
    app.fail_submit = True
    r = await post_plain(client, fixture("wechat/test_parse_text_message.xml"))
    assert r.status_code == 500
    app.fail_submit = False
    r = await post_plain(client, fixture("wechat/test_parse_text_message.xml"))
    assert r.status_code == 200 and len(app.submitted) == 1


async def test_slow_core_still_answers_within_budget(env):
    import asyncio

    app, channel, client = env
    channel.submitter.budget = 0.2
    done = asyncio.Event()
    original = app.submit

    async def slow(msg):
        await asyncio.sleep(0.6)
        await original(msg)
        done.set()

    app.submit = slow
    r = await post_plain(client, fixture("wechat/test_parse_text_message.xml"))
    # answered within its budget: before the slow core finished
    assert r.status_code == 200 and r.text == "success" and not done.is_set()
    await asyncio.wait_for(done.wait(), 2)
    assert len(app.submitted) == 1
