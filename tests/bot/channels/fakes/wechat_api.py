"""A small fake WeChat / WeCom API server for the WeChat and WeCom adapter tests.

It listens on 127.0.0.1 (a free port) and answers, in the real response shapes, the calls the
adapters make through wechatpy:

- ``GET  /cgi-bin/token``                 (Official Account access token)
- ``GET  /cgi-bin/gettoken``              (WeCom access token)
- ``POST /cgi-bin/message/custom/send``   (OA customer-service message)
- ``POST /cgi-bin/message/template/send`` (OA template message)
- ``POST /cgi-bin/message/send``          (WeCom app message)

Every call is recorded (path, query, JSON body). Access tokens are issued per fetch and checked:
a call with an unknown or expired token gets errcode 40001 (wechatpy then fetches a new one and
retries once). :meth:`fail` makes an endpoint answer an errcode on demand (45015 out of the 48 h
window, 45047 over the count, 40001 ...). Only the standard library: ``http.server`` in a thread.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    43004: "require subscribe",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    40037: "invalid template_id",
    81013: "user & party & tag all invalid",
}


@dataclass
class Call:
    path: str  # e.g. "/cgi-bin/message/custom/send"
    query: dict[str, str]
    body: dict[str, Any] | None

    @property
    def endpoint(self) -> str:
        return self.path.removeprefix("/cgi-bin/")


@dataclass
class _Failure:
    endpoint: str
    errcode: int
    times: int


@dataclass
class FakeWeChatAPI:
    calls: list[Call] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    _failures: list[_Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- control

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeWeChatAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else {}
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                fake._handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeWeChatAPI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def fail(self, endpoint: str, errcode: int, times: int = 1) -> None:
        """The next ``times`` calls of ``endpoint`` (e.g. ``"message/custom/send"``) answer ``errcode``."""
        with self._lock:
            self._failures.append(_Failure(endpoint, errcode, times))

    def expire_tokens(self) -> None:
        """Invalidate every issued token (the next API call gets 40001)."""
        with self._lock:
            self.valid_tokens.clear()

    def sent(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    @property
    def token_fetches(self) -> list[Call]:
        return [c for c in self.calls if c.endpoint in ("token", "gettoken")]

    # -------------------------------------------------------------- serving

    def _handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any] | None) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        call = Call(parsed.path, query, body)
        with self._lock:
            self.calls.append(call)
            answer = self._answer(call)
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, call: Call) -> dict[str, Any]:
        endpoint = call.endpoint
        if endpoint == "token":
            if not call.query.get("appid") or not call.query.get("secret"):
                return {"errcode": 40013, "errmsg": "invalid appid"}
            return self._issue(f"OA-TOKEN-{next(self._counter)}")
        if endpoint == "gettoken":
            if not call.query.get("corpid") or not call.query.get("corpsecret"):
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            return self._issue(f"WORK-TOKEN-{next(self._counter)}")
        if endpoint not in ("message/custom/send", "message/template/send", "message/send"):
            return {"errcode": 404, "errmsg": f"fake: unknown endpoint {endpoint}"}
        if call.query.get("access_token") not in self.valid_tokens:
            return {"errcode": 40001, "errmsg": ERRMSG[40001]}
        for failure in self._failures:
            if failure.endpoint == endpoint and failure.times > 0:
                failure.times -= 1
                return {"errcode": failure.errcode, "errmsg": ERRMSG.get(failure.errcode, "fake error")}
        if endpoint == "message/template/send":
            return {"errcode": 0, "errmsg": "ok", "msgid": next(self._counter)}
        if endpoint == "message/send":
            return {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": f"m{next(self._counter)}"}
        return {"errcode": 0, "errmsg": "ok"}

    def _issue(self, token: str) -> dict[str, Any]:
        self.valid_tokens.add(token)
        return {"access_token": token, "expires_in": 7200}


# ---------------------------------------------------------------------- helpers for the tests

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> str:
    """A fixture file's text, e.g. ``fixture("wechat/test_parse_text_message.xml")``."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def vector(name: str) -> dict[str, Any]:
    return json.loads(fixture(name))


def with_fields(xml: str, **fields: str) -> str:
    """A copy of a message XML with some elements' values replaced (``Content="..."``, ``MsgId="7"``)."""
    for tag, value in fields.items():
        pattern = re.compile(rf"<{tag}>.*?</{tag}>", re.S)
        if not pattern.search(xml):
            raise KeyError(tag)
        inner = value if tag in ("MsgId", "CreateTime", "AgentID") else f"<![CDATA[{value}]]>"
        xml = pattern.sub(lambda _m, tag=tag, inner=inner: f"<{tag}>{inner}</{tag}>", xml, count=1)
    return xml


def sign(*parts: str) -> str:
    """WeChat's SHA1 signature over the sorted parts (token, timestamp, nonce[, encrypt])."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


#: The time of :class:`StubApp`'s clock; callbacks are signed with it unless a test says otherwise
#: (the adapter refuses a timestamp more than 5 minutes away from its clock).
STUB_NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    """A callback's ``timestamp`` parameter for the time ``at``."""
    return str(int(at.timestamp()))


def oa_plain_query(token: str, timestamp: str | None = None, nonce: str = "1320562132") -> dict[str, str]:
    timestamp = timestamp or stamp(STUB_NOW)
    return {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "openid": "x"}


def oa_encrypted(token: str, aes_key: str, app_id: str, xml: str, timestamp: str | None = None,
                 nonce: str = "1320562132") -> tuple[dict[str, str], str]:
    """(query, body) of a safe-mode POST, encrypted the way WeChat does it (wechatpy's crypto)."""
    timestamp = timestamp or stamp(STUB_NOW)
    from wechatpy.crypto import WeChatCrypto

    envelope = WeChatCrypto(token, aes_key, app_id).encrypt_message(xml, nonce, timestamp)
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope).group(1)
    body = f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    query = {
        "signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
        "encrypt_type": "aes", "msg_signature": sign(token, timestamp, nonce, encrypt), "openid": "x",
    }
    return query, body


def wecom_encrypted(token: str, aes_key: str, corp_id: str, xml: str, timestamp: str = "1409659813",
                    nonce: str = "1372623149") -> tuple[dict[str, str], str]:
    """(query, body) of a WeCom callback POST, encrypted the way WeCom does it."""
    from wechatpy.enterprise.crypto import WeChatCrypto

    envelope = WeChatCrypto(token, aes_key, corp_id).encrypt_message(xml, nonce, timestamp)
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope).group(1)
    body = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            "<AgentID><![CDATA[218]]></AgentID></xml>")
    return {"msg_signature": sign(token, timestamp, nonce, encrypt), "timestamp": timestamp, "nonce": nonce}, body


COMMUNITY_FILES = [FIXTURES / "wechat_community.yaml", FIXTURES / "wechat_plain_community.yaml"]
SECRETS = {"LINLI_TEST_WECHAT_SECRET": "oa-secret-for-tests", "LINLI_TEST_WECOM_SECRET": "wecom-secret-for-tests"}


class StubApp:
    """The parts of ``LinliApp`` the WeChat adapters use, with a recording ``submit``.

    Real community loading, database and identities; ``submit`` only records (and dedupes by
    platform id like the core), so adapter tests do not depend on the core's wording.
    """

    def __init__(self, database_url: str, api_base: str, paths: list[Path] | None = None) -> None:
        from bot.config import Settings
        from storage.community import CommunityRegistry
        from storage.db import Database
        from storage.identities import Identities

        self.settings = Settings(database_url=database_url, wechat_api_base=api_base)
        self.communities = CommunityRegistry.load(paths or COMMUNITY_FILES)
        self.db = Database(database_url)
        self.db.create_all()
        self.identities = Identities(self.db, self.communities)
        self.time = STUB_NOW
        self.clock = self
        self.submitted: list[Any] = []
        self.notices: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str, str]] = set()
        self.fail_submit = False

    def now(self):
        return self.time

    async def submit(self, msg: Any) -> None:
        if self.fail_submit:
            raise RuntimeError("core down")
        if msg.platform_id is not None:
            key = (msg.community, msg.channel, msg.platform_id)
            if key in self._seen:
                return
            self._seen.add(key)
        self.submitted.append(msg)

    def notify_admins(self, community: str, text: str, event: str = "notice") -> None:
        self.notices.append((community, text))
