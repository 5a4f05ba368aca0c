"""Pieces shared by the WeChat Official Account and WeCom adapters.

- API clients (wechatpy 1.8) whose every call, the access-token fetch included, can be pointed at
  another server (``LINLI_WECHAT_API_BASE``); tokens are cached in memory per client and refreshed
  by wechatpy before they expire (and once more on 40001/42001); they never reach the logs.
- Reading a callback body with a size limit, and handing a message to the core within WeChat's
  5-second budget.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from wechatpy.client import WeChatClient as _OAClient
from wechatpy.enterprise.client import WeChatClient as _WorkClient
from wechatpy.exceptions import WeChatClientException

log = logging.getLogger("linli.wechat")

#: Largest callback body accepted (WeChat's own messages are a few KiB).
MAX_BODY = 64 * 1024
#: WeChat gives up after 5 s and retries; answer well before that.
REPLY_BUDGET = 4.0

OA_API = "https://api.weixin.qq.com/"
WORK_API = "https://qyapi.weixin.qq.com/"

_TOKEN_RE = re.compile(r"(access_token=|corpsecret=|secret=)[^&\s'\"]+")


class _RedactTokens(logging.Filter):
    """Scrub access tokens and secrets from log lines (urllib3 logs request URLs at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a broken record is not ours to fix
            return True
        if "access_token=" in message or "secret=" in message:
            record.msg = _TOKEN_RE.sub(r"\1***", message)
            record.args = ()
        return True


_redact = _RedactTokens()
for _name in ("urllib3.connectionpool", "requests", "wechatpy", "linli.wechat"):
    _logger = logging.getLogger(_name)
    if _redact not in _logger.filters:
        _logger.addFilter(_redact)


def redact(text: str) -> str:
    return _TOKEN_RE.sub(r"\1***", text)


def _api_root(api_base: str | None) -> str | None:
    """``http://127.0.0.1:9000`` or ``http://127.0.0.1:9000/cgi-bin`` → ``http://127.0.0.1:9000/``."""
    if not api_base:
        return None
    root = api_base.rstrip("/")
    if root.endswith("/cgi-bin"):
        root = root[: -len("/cgi-bin")]
    return root + "/"


class _Redirecting:
    """Mixin: rewrite every absolute Tencent URL to ``api_root`` (token fetch included)."""

    _official_root: str = OA_API
    _api_root: str = OA_API

    def _redirect(self, url: str) -> str:
        if url.startswith(self._official_root):
            return self._api_root + url[len(self._official_root):]
        return url

    def _request(self, method, url_or_endpoint, **kwargs):  # type: ignore[override]
        if url_or_endpoint.startswith(("http://", "https://")):
            url_or_endpoint = self._redirect(url_or_endpoint)
        elif kwargs.get("api_base_url"):
            kwargs["api_base_url"] = self._redirect(kwargs["api_base_url"])
        return super()._request(method, url_or_endpoint, **kwargs)  # type: ignore[misc]

    def _fetch_access_token(self, url, params):  # type: ignore[override]
        return super()._fetch_access_token(self._redirect(url), params)  # type: ignore[misc]


class OAClient(_Redirecting, _OAClient):
    """wechatpy's Official Account client; all calls go to ``api_base`` when given."""

    _official_root = OA_API

    def __init__(self, appid: str, secret: str, api_base: str | None = None, timeout: float = 10) -> None:
        # auto_retry=False: wechatpy 1.8 retries 40001 without bound; call_client refreshes once.
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._api_root = _api_root(api_base) or OA_API
        self.API_BASE_URL = self._api_root + "cgi-bin/"
        self.lock = threading.Lock()

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self._api_root + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class WorkClient(_Redirecting, _WorkClient):
    """wechatpy's WeCom (``wechatpy.enterprise``) client; all calls go to ``api_base`` when given."""

    _official_root = WORK_API

    def __init__(self, corp_id: str, secret: str, api_base: str | None = None, timeout: float = 10) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self._api_root = _api_root(api_base) or WORK_API
        self.API_BASE_URL = self._api_root + "cgi-bin/"
        self.lock = threading.Lock()

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self._api_root + "cgi-bin/gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
        )


#: The access token was refused (invalid, not the latest, expired): fetch a new one, retry once.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})


async def call_client(client: OAClient | WorkClient, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking wechatpy call in a thread; one call at a time per client (one token fetch).

    A refused access token is refreshed and the call retried once; a second refusal is raised.
    """

    def run() -> Any:
        with client.lock:
            try:
                return fn(*args, **kwargs)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_ERRORS:
                    raise
                log.info("access token refused (errcode %s): fetching a new one", exc.errcode)
                client.fetch_access_token()
                return fn(*args, **kwargs)

    return await asyncio.to_thread(run)


class LateWrites:
    """Bookkeeping due after the platform accepted a message (the delivery record, the window's
    count). It never raises: the message is out, and failing the send would make the outbox send
    it again. A write that fails (a locked database) is kept under its key and retried by
    :meth:`retry`; while it waits, ``key in late_writes`` tells the channel the message went out.
    Each write must be idempotent."""

    def __init__(self) -> None:
        self._waiting: dict[object, Callable[[], None]] = {}

    def run(self, key: object, write: Callable[[], None]) -> None:
        try:
            write()
        except Exception as exc:
            log.warning("bookkeeping of a sent message failed (%s); retried later", redact(repr(exc)))
            self._waiting[key] = write
        else:
            self._waiting.pop(key, None)

    def retry(self) -> None:
        for key, write in list(self._waiting.items()):
            self.run(key, write)

    def __contains__(self, key: object) -> bool:
        return key in self._waiting

    def __len__(self) -> int:
        return len(self._waiting)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, or :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            raise BodyTooLarge from None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        return b""
    return b"".join(chunks)


def looks_unsafe(xml: bytes | str) -> bool:
    """A DOCTYPE or entity declaration: WeChat never sends one; refuse before parsing (XXE)."""
    head = xml if isinstance(xml, bytes) else xml.encode("utf-8", "replace")
    upper = head.upper()
    return b"<!DOCTYPE" in upper or b"<!ENTITY" in upper


class Submitter:
    """Hands messages to the core without making WeChat wait more than :data:`REPLY_BUDGET`.

    ``run(coro)`` waits up to the budget: ``True`` when the work finished (or still runs in the
    background — it is kept alive here, and the core's outbox delivers what it produced), ``False``
    when it failed fast (answer 500 so WeChat retries; the core's MsgId dedupe makes that safe).
    """

    def __init__(self, budget: float = REPLY_BUDGET) -> None:
        self.budget = budget
        self._tasks: set[asyncio.Task] = set()

    async def run(self, work: Awaitable[Any], what: str) -> bool:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done(what))
        done, _ = await asyncio.wait({task}, timeout=self.budget)
        if not done:
            return True
        return task.exception() is None

    def spawn(self, work: Awaitable[Any], what: str) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done(what))

    def _done(self, what: str) -> Callable[[asyncio.Task], None]:
        def done(task: asyncio.Task) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.error("%s failed: %s", what, redact(repr(exc)), exc_info=exc)

        return done

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for background work (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def now_from(app: Any) -> datetime:
    """The app's clock (tests control it), else the wall clock; always aware UTC."""
    clock = getattr(app, "clock", None)
    if clock is not None:
        now = clock.now() if callable(getattr(clock, "now", None)) else clock()
    else:
        now = datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def render_buttons(text: str, buttons: tuple) -> str:
    """WeChat has no inline buttons here: list the commands not already in the text."""
    extra = [f"{b.command}（{b.label}）" for b in buttons if b.command not in text]
    if not extra:
        return text
    return text + "\n\n可回复：\n" + "\n".join(extra)
