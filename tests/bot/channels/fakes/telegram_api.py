"""A small fake Telegram Bot API server for the Telegram adapter tests.

It listens on 127.0.0.1 (a free port), answers the Bot API methods the adapter uses in the real
response shape (``{"ok": true, "result": ...}``), records every call, serves ``getUpdates`` as a
real long poll from a queue the test feeds with Update JSON, honours ``offset`` like Telegram does
(updates below the offset are confirmed and dropped), and can answer errors on demand (403
Forbidden, 429 with ``retry_after``, 500...).

Only the standard library: ``http.server`` in a thread. Use it as a context manager, or call
:meth:`start` / :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = "123:ABC"
BOT_ID = 123
BOT_USERNAME = "linli_test_bot"

#: Parameters PTB sends JSON-encoded inside the form body.
_JSON_PARAMS = {"reply_markup", "reply_parameters", "entities", "allowed_updates", "link_preview_options"}


@dataclass
class Call:
    """One recorded request: the method name and its parameters (JSON values decoded)."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    parameters: dict[str, Any] | None
    match: Callable[[dict[str, Any]], bool] | None
    times: int


class FakeTelegramAPI:
    """The fake Bot API. ``base_url`` is what python-telegram-bot takes as ``base_url``."""

    def __init__(self, *, token: str = TOKEN, can_read_all_group_messages: bool = True) -> None:
        self.token = token
        self.can_read_all_group_messages = can_read_all_group_messages
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1000
        self._next_message_id = 5000
        self._failures: list[_Failure] = []
        self._chat_members: dict[tuple[int, int], str] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeTelegramAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with fake._cond:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._cond:
                    fake._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                fake._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-telegram", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            connections = list(self._connections)
        for conn in connections:  # keep-alive connections would otherwise outlive the server
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTelegramAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what the test does ----------------------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue one Update JSON for ``getUpdates``; gives it an ``update_id`` when it has none."""
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": self._next_update_id, **update}
            if isinstance(update.get("update_id"), int):
                self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._updates.append(update)
            self._cond.notify_all()
            return update["update_id"]

    def pending_updates(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._updates)

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        parameters: dict[str, Any] | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (whose params satisfy ``match``) with an error."""
        with self._cond:
            self._failures.append(_Failure(method, status, description, parameters, match, times))

    def forbid(self, chat_id: int, times: int = 1_000_000) -> None:
        """``sendMessage`` to ``chat_id`` answers 403, as when the user never started the bot."""
        self.fail(
            "sendMessage",
            403,
            "Forbidden: bot can't initiate conversation with a user",
            match=lambda p: str(p.get("chat_id")) == str(chat_id),
            times=times,
        )

    def flood(self, retry_after: int, times: int = 1, method: str = "sendMessage") -> None:
        self.fail(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            parameters={"retry_after": retry_after},
            times=times,
        )

    def set_chat_member(self, chat_id: int, user_id: int, status: str) -> None:
        with self._cond:
            self._chat_members[(chat_id, user_id)] = status

    def calls_of(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Parameters of every ``sendMessage`` that succeeded, optionally to one chat."""
        with self._cond:
            out = [c.params for c in self.calls if c.method == "sendMessage" and c.params.get("_ok")]
        if chat_id is not None:
            out = [p for p in out if str(p.get("chat_id")) == str(chat_id)]
        return out

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block (in a thread) until ``predicate()`` holds; use :meth:`until` from async tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        import asyncio

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return predicate()

    # -- the HTTP side ---------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlparse(req.path)
        parts = parsed.path.strip("/").split("/")
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        if len(parts) != 2 or not parts[0].startswith("bot"):
            self._reply(req, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        if parts[0] != f"bot{self.token}":
            self._reply(req, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = parts[1]
        params = self._params(req.headers.get("Content-Type", ""), body, parsed.query)
        call = Call(method, params)
        with self._cond:
            self.calls.append(call)
            failure = self._take_failure(method, params)
        if failure is not None:
            payload: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.parameters:
                payload["parameters"] = failure.parameters
            self._reply(req, failure.status, payload)
            return
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            self._reply(req, 200, {"ok": True, "result": True})
            return
        try:
            result = handler(params)
        except _ApiError as err:
            self._reply(req, err.status, {"ok": False, "error_code": err.status, "description": err.description})
            return
        params["_ok"] = True
        self._reply(req, 200, {"ok": True, "result": result})

    @staticmethod
    def _params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
        raw: dict[str, str] = {}
        if query:
            raw.update({k: v[-1] for k, v in urllib.parse.parse_qs(query).items()})
        if body and content_type.startswith("application/json"):
            return dict(json.loads(body))
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            raw.update({k: v[-1] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()})
        elif body and content_type.startswith("multipart/form-data"):
            raise ValueError("multipart bodies are not supported by the fake server")
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _JSON_PARAMS:
                params[key] = json.loads(value)
            else:
                params[key] = value
        return params

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (PTB stopped polling)
            pass

    def _take_failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and (failure.match is None or failure.match(params)):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # -- methods ---------------------------------------------------------------------------
    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "邻里", "username": BOT_USERNAME}

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
        }

    def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 30.0)
        with self._cond:
            if offset:
                # Telegram forgets every update below the offset: they are confirmed.
                self._updates = [
                    u for u in self._updates if not isinstance(u.get("update_id"), int) or u["update_id"] >= offset
                ]
            while not self._updates and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self._updates[:limit])

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        with self._cond:
            self.webhook = {}
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self._updates.clear()
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        with self._cond:
            self.webhook = dict(params)
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        with self._cond:
            self._next_message_id += 1
            message_id = self._next_message_id
        chat: dict[str, Any] = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id > 0:
            chat["first_name"] = "User"
        else:
            chat["title"] = "Group"
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": chat,
            "date": int(time.time()),
            "text": str(params.get("text", "")),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if not str(params.get("text", "")).strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        return self._message(params)

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any] | bool:  # noqa: N802
        if "inline_message_id" in params:
            return True
        return self._message(params)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any] | bool:  # noqa: N802
        if "inline_message_id" in params:
            return True
        return self._message({**params, "text": "…"})

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:  # noqa: N802
        return True

    def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self._chat_members.get((chat_id, user_id), "member")
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        if status == "administrator":
            return {
                "status": status,
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        if status == "creator":
            return {"status": status, "user": user, "is_anonymous": False}
        return {"status": status, "user": user}


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# -- Update JSON in the Bot API shape (field lists: core.telegram.org/bots/api#update) ----------

_START = 1_772_413_200  # 2026-03-02 09:00:00 +08:00


def user(user_id: int, first_name: str, last_name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}
    if last_name:
        out["last_name"] = last_name
    return out


def _entities(text: str) -> list[dict[str, Any]]:
    if text.startswith("/"):
        command = text.split()[0]
        return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
    return []


def group_message(
    chat_id: int,
    message_id: int,
    sender: dict[str, Any],
    text: str | None = None,
    *,
    date: int = _START,
    title: str = "正弘悦府业主群",
    caption: str | None = None,
) -> dict[str, Any]:
    """A ``message`` in a supergroup, as the Bot API sends it."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": {"id": chat_id, "type": "supergroup", "title": title},
        "date": date,
    }
    if text is not None:
        message["text"] = text
        if ents := _entities(text):
            message["entities"] = ents
    if caption is not None:
        message["photo"] = [
            {"file_id": "AgACAgUAAxkBAAIB", "file_unique_id": "AQADx6sxG", "width": 90, "height": 67, "file_size": 1450},
            {"file_id": "AgACAgUAAxkBAAIC", "file_unique_id": "AQADx6sxH", "width": 1280, "height": 960, "file_size": 98000},
        ]
        message["caption"] = caption
    return message


def private_message(message_id: int, sender: dict[str, Any], text: str, *, date: int = _START) -> dict[str, Any]:
    chat = {"id": sender["id"], "type": "private", "first_name": sender["first_name"]}
    message: dict[str, Any] = {"message_id": message_id, "from": sender, "chat": chat, "date": date, "text": text}
    if ents := _entities(text):
        message["entities"] = ents
    return message


def callback_query(query_id: str, sender: dict[str, Any], data: str, message: dict[str, Any]) -> dict[str, Any]:
    """A ``callback_query`` for an inline button on ``message`` (a message the bot sent)."""
    return {
        "id": query_id,
        "from": sender,
        "message": message,
        "chat_instance": "-7283749123412",
        "data": data,
    }


# -- test fixtures' layout and ids ---------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
COMMUNITY = FIXTURES / "community.yaml"
LEGACY = sorted((FIXTURES / "core_telegram_org_webhooks").glob("*.json"))
GROUP_ID = -1001234567890  # bound in fixtures/telegram/community.yaml
COMMUNITY_ID = "tgtest"
ADMIN, GW, BH3, BH5, ZHAO = 9001, 9002, 9003, 9005, 7001  # telegram ids of admin1, gw1, bh3, bh5, r_zhao


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
