"""WeChat Official Account (公众号) adapter: residents talk to the Official Account.

Callback ``/wechat/<community id>`` (served by :mod:`bot.channels.web`):

- ``GET``: WeChat's URL verification (signature over token, timestamp, nonce) → echostr.
- ``POST``: a message, plain or safe mode (AES, ``encoding_aes_key`` set and ``encrypt_type=aes``).
  The signature is checked before anything else: a forged request gets 403 and never reaches the
  core (so it cannot mark a MsgId as seen); so does a signed ``timestamp`` more than 5 minutes
  (``LINLI_WECHAT_CALLBACK_MAX_AGE``) away from our clock, or none: a captured request cannot be
  replayed later. Malformed XML or any DOCTYPE/entity → 400, a body over 64 KiB → 413.
- text and voice-with-``Recognition`` go to the core as private messages (``platform_id`` = MsgId,
  or ``FromUserName`` + ``CreateTime`` when there is no MsgId: the core dedupes WeChat's retries); a location goes with its label as ``location_hint``; images,
  voice without recognition and other media get a direct (passive) reply asking for words;
  ``subscribe`` gets a welcome and how to register a home (``绑定 3-2-1201``).
- The answer is ``success`` (or the passive reply) within WeChat's 5 s; what the core says is
  delivered later through the outbox by :meth:`WeChatChannel.send`.

Delivery: customer-service messages (``message/custom/send``) within 48 h of the resident's last
message and below the per-window count; otherwise a template message (template id per message
kind in ``wechat.templates``, key ``default`` as fallback); otherwise the message is queued here
(:class:`storage.wechat_state.WeChatQueued`), the admins are told, and it goes out as soon as the
resident writes again. Nothing is dropped silently.

Community file::

    wechat:
      app_id: ${WECHAT_APP_ID}
      secret: ${WECHAT_SECRET}
      token: ${WECHAT_TOKEN}
      encoding_aes_key: ${WECHAT_AES_KEY}     # omit for plain mode
      templates:                              # optional: message kind → template id
        resolution_check: TEMPLATE_ID
        default: TEMPLATE_ID
      template_fields:                        # optional: template field → format string
        first: "{text}"                       # placeholders: {text} {ticket} {time} {community} {event}
        keyword1: "{ticket}"
        keyword2: "{time}"
      cs_limit: 20                            # optional: customer-service messages per window
      welcome: "欢迎关注…"                      # optional: the text answered to a new follower
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException, WeChatClientException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.channels.base import Channel, DeliveryError, RecipientUnreachable
from bot.channels.wechat_common import (
    MAX_BODY,
    TOKEN_ERRORS,
    BodyTooLarge,
    LateWrites,
    OAClient,
    Submitter,
    call_client,
    looks_unsafe,
    now_from,
    read_body,
    redact,
    render_buttons,
)
from handlers.messages import GROUP, IncomingMessage, OutgoingMessage
from storage.community import CommunityError
from storage.wechat_state import WeChatDelivery, WeChatQueued, WeChatWindow, create_tables

if TYPE_CHECKING:  # pragma: no cover
    from bot.app import LinliApp

log = logging.getLogger("linli.wechat")

WINDOW = timedelta(hours=48)
#: Customer-service messages allowed per resident message (WeChat answers 45047 beyond).
DEFAULT_CS_LIMIT = 20
#: Errors meaning "outside the customer-service window / over its count".
WINDOW_ERRORS = {45015, 45047}
#: Errors meaning "this openid cannot receive anything from us" (unfollowed, wrong openid, blocked).
UNREACHABLE_ERRORS = {40003, 43004, 43019, 43101}

_BUILDING = re.compile(r"\d+\s*(号楼|栋|幢|座)")

DEFAULT_TEMPLATE_FIELDS = {
    "first": "{text}",
    "keyword1": "{ticket}",
    "keyword2": "{time}",
    "remark": "回复本公众号即可继续对话。",
}

IMAGE_REPLY = "收到图片。请用一句话描述问题和位置，例如“3号楼2单元楼道灯不亮”，我们才能派人处理。"
VOICE_REPLY = "抱歉，没能识别这段语音。请用文字描述问题和位置，例如“3号楼电梯坏了”。"
OTHER_REPLY = "请用文字描述问题和位置，例如“3号楼2单元楼道灯不亮”。"
LOCATION_ASK = "收到您的位置：{label}。请问是几号楼（例如 3号楼2单元）？遇到了什么问题？"


def welcome_text(community_name: str) -> str:
    return (
        f"欢迎关注{community_name}邻里服务！\n"
        "有报修或问题，直接在这里发文字或语音，例如“3号楼电梯坏了”。\n"
        "登记您的住址：回复“绑定 楼号-单元-房号”，例如：绑定 3-2-1201"
    )


class WeChatExtras(BaseModel):
    """The adapter's own keys under ``wechat:`` (beside app_id, secret, token, encoding_aes_key, templates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    template_fields: dict[str, str] | None = None
    cs_limit: int = Field(default=DEFAULT_CS_LIMIT, ge=1, le=1000)
    welcome: str | None = None

    @field_validator("template_fields")
    @classmethod
    def _placeholders(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, fmt in (value or {}).items():
            try:
                fmt.format(text="", ticket="", time="", community="", event="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"template_fields.{key}: unknown placeholder {exc} "
                                 "(use {text} {ticket} {time} {community} {event})") from None
        return value


def check_extras(model: type[BaseModel], section: str, communities: Any) -> dict[str, BaseModel]:
    """Validate the adapter's extra keys of every community; raise ``CommunityError`` naming them."""
    found: dict[str, BaseModel] = {}
    errors: list[str] = []
    for community in communities.all():
        cfg = getattr(community, section, None)
        if cfg is None:
            continue
        try:
            found[community.id] = model.model_validate(getattr(cfg, "model_extra", None) or {})
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                errors.append(f"community {community.id}: {section}.{where}: {message}")
    if errors:
        raise CommunityError(errors)
    return found


@dataclass
class _Verified:
    """A POST that passed the signature check, with its decrypted plaintext."""

    xml: str
    encrypted: bool
    nonce: str
    timestamp: str


class WeChatChannel(Channel):
    """The Official Account channel for every community with ``wechat:`` in its community file."""

    name = "wechat"

    def __init__(self, communities: Any, api_base: str | None = None, max_age: float = 300.0) -> None:
        self.communities = communities
        self.api_base = api_base
        #: How far a callback's signed timestamp may be from our clock.
        self.max_age = timedelta(seconds=max_age)
        self.extras: dict[str, WeChatExtras] = check_extras(WeChatExtras, "wechat", communities)  # type: ignore[assignment]
        self.app: LinliApp | None = None
        self.submitter = Submitter()
        self._clients: dict[str, OAClient] = {}
        self._cryptos: dict[str, WeChatCrypto] = {}
        self.late = LateWrites()

    # ------------------------------------------------------------------ setup

    @classmethod
    def from_settings(cls, settings: Any, communities: Any) -> WeChatChannel | None:
        if not any(c.wechat is not None for c in communities.all()):
            return None
        return cls(communities, api_base=getattr(settings, "wechat_api_base", None),
                   max_age=getattr(settings, "wechat_callback_max_age", 300.0))

    async def start(self, app: LinliApp) -> None:
        self.app = app
        create_tables(app.db.engine)

    async def stop(self) -> None:
        await self.submitter.drain(timeout=5.0)

    def config(self, community_id: str) -> Any | None:
        community = self.communities.get(community_id)
        return community.wechat if community is not None else None

    def client(self, community_id: str) -> OAClient:
        client = self._clients.get(community_id)
        if client is None:
            cfg = self.config(community_id)
            assert cfg is not None
            client = OAClient(cfg.app_id, cfg.secret, api_base=self.api_base)
            self._clients[community_id] = client
        return client

    def _crypto(self, community_id: str, cfg: Any) -> WeChatCrypto:
        crypto = self._cryptos.get(community_id)
        if crypto is None:
            crypto = WeChatCrypto(cfg.token, cfg.encoding_aes_key, cfg.app_id)
            self._cryptos[community_id] = crypto
        return crypto

    def _extras(self, community_id: str) -> WeChatExtras:
        return self.extras.get(community_id) or WeChatExtras()

    # ------------------------------------------------------------------ callback

    async def handle(self, request: Request, community_id: str) -> Response:
        """The ASGI endpoint ``/wechat/<community id>`` (GET and POST)."""
        cfg = self.config(community_id)
        if cfg is None or self.app is None:
            return PlainTextResponse("unknown community", status_code=404)
        q = request.query_params
        if request.method == "GET":
            try:
                check_signature(cfg.token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
            except InvalidSignatureException:
                return PlainTextResponse("forbidden", status_code=403)
            return PlainTextResponse(q.get("echostr", ""))
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return PlainTextResponse("too large", status_code=413)
        verified = self._verify(cfg, community_id, q, body)
        if isinstance(verified, Response):
            return verified
        try:
            message = parse_message(verified.xml)
            kind = (message.type or "").lower()
            source = message.source
            _ = message.id, message.target  # typed fields: a bad MsgId is a bad request, not a crash
        except Exception:
            return PlainTextResponse("bad request", status_code=400)
        if not isinstance(source, str) or not source:
            return PlainTextResponse("bad request", status_code=400)
        try:
            reply = await self._dispatch(community_id, message, kind)
        except Exception as exc:
            log.error("WeChat message for %s not handled: %s", community_id, redact(repr(exc)))
            return PlainTextResponse("try again", status_code=500)
        if reply is None:
            return PlainTextResponse("success")
        return self._passive(community_id, cfg, message, reply, verified)

    def _verify(self, cfg: Any, community_id: str, q: Any, body: bytes) -> _Verified | Response:
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        encrypted = q.get("encrypt_type", "raw").lower() == "aes"
        if encrypted and not cfg.encoding_aes_key:
            return PlainTextResponse("safe mode is not configured", status_code=400)
        if not encrypted or q.get("signature") is not None:
            try:
                check_signature(cfg.token, q.get("signature", ""), timestamp, nonce)
            except InvalidSignatureException:
                return PlainTextResponse("forbidden", status_code=403)
        if not self._fresh(timestamp):
            return PlainTextResponse("stale timestamp", status_code=403)
        if looks_unsafe(body):
            return PlainTextResponse("bad request", status_code=400)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("bad request", status_code=400)
        if not encrypted:
            return _Verified(text, False, nonce, timestamp)
        try:
            plain = self._crypto(community_id, cfg).decrypt_message(text, q.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException):
            return PlainTextResponse("forbidden", status_code=403)
        except Exception:
            return PlainTextResponse("bad request", status_code=400)
        plain = plain.decode("utf-8") if isinstance(plain, bytes) else plain
        if looks_unsafe(plain):
            return PlainTextResponse("bad request", status_code=400)
        return _Verified(plain, True, nonce, timestamp)

    def _fresh(self, timestamp: str) -> bool:
        """The signed timestamp is within ``max_age`` of our clock (a replay is not)."""
        try:
            sent = datetime.fromtimestamp(int(timestamp), UTC)
        except (ValueError, OverflowError, OSError):
            return False
        assert self.app is not None
        return abs(now_from(self.app) - sent) <= self.max_age

    def _passive(self, community_id: str, cfg: Any, message: Any, text: str, verified: _Verified) -> Response:
        xml = TextReply(source=message.target, target=message.source, content=text).render()
        if verified.encrypted:
            xml = self._crypto(community_id, cfg).encrypt_message(xml, verified.nonce, verified.timestamp)
        return Response(xml, media_type="application/xml")

    async def _dispatch(self, community_id: str, message: Any, kind: str) -> str | None:
        """Hand the message to the core; return a passive reply text or None (``success``)."""
        app = self.app
        assert app is not None
        openid: str = message.source
        community = self.communities.get(community_id)
        if kind == "event":
            event = (getattr(message, "event", "") or "").lower()
            if event in ("subscribe", "subscribe_scan"):
                self.touch(community_id, openid)
                return self._extras(community_id).welcome or welcome_text(community.name)
            if event == "unsubscribe":
                self._close_window(community_id, openid)
            return None
        if kind not in ("text", "voice", "location"):
            self.touch(community_id, openid)
            return IMAGE_REPLY if kind == "image" else OTHER_REPLY
        text: str | None
        hint: str | None = None
        reply: str | None = None
        if kind == "text":
            text = message.content
        elif kind == "voice":
            text = message.recognition
            if not text:
                self.touch(community_id, openid)
                return VOICE_REPLY
        else:  # location
            label = message.label or f"{message.location_x},{message.location_y}"
            text, hint = label, label
            if not _BUILDING.search(label):
                reply = LOCATION_ASK.format(label=label)
        if not isinstance(text, str) or not text.strip():
            return reply
        self.touch(community_id, openid)
        sender = app.identities.resolve(community_id, "wechat", openid) or f"wx:{openid}"
        msg_id = message.id
        if not msg_id and message.time:
            # WeChat's advice for messages without MsgId: FromUserName + CreateTime identify them.
            msg_id = f"{openid}@{message.time}"
        incoming = IncomingMessage(
            community=community_id,
            chat="private",
            sender=sender,
            text=text.strip(),
            at=now_from(app),
            platform_id=str(msg_id) if msg_id else None,
            channel=self.name,
            chat_ref=None,
            location_hint=hint,
        )
        ok = await self.submitter.run(app.submit(incoming), f"wechat message {msg_id}")
        if not ok:
            raise RuntimeError("the core failed on a WeChat message")  # answered 500: WeChat retries
        return reply

    # ------------------------------------------------------------------ 48 h window state

    def touch(self, community_id: str, openid: str) -> None:
        """The resident wrote: the customer-service window (re)opens with a fresh count."""
        app = self.app
        assert app is not None
        now = now_from(app)
        with app.db.session() as s:
            row = s.get(WeChatWindow, (community_id, openid))
            if row is None:
                row = WeChatWindow(community=community_id, openid=openid, last_inbound_at=now)
            row.last_inbound_at = now
            row.cs_sent = 0
            row.closed = False
            s.add(row)
            queued = s.exec(
                select(WeChatQueued.id).where(
                    WeChatQueued.community == community_id,
                    WeChatQueued.openid == openid,
                    WeChatQueued.sent_at.is_(None),  # type: ignore[union-attr]
                )
            ).first()
        if queued is not None:
            self.submitter.spawn(self.flush_queue(community_id, openid), f"wechat queue flush {community_id}")

    def _window_open(self, community_id: str, openid: str, now: datetime) -> bool:
        assert self.app is not None
        limit = self._extras(community_id).cs_limit
        with self.app.db.session() as s:
            row = s.get(WeChatWindow, (community_id, openid))
            if row is None or row.closed:
                return False
            last = row.last_inbound_at
            last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
            return now - last < WINDOW and row.cs_sent < limit

    @staticmethod
    def _count_sent(s: Any, community_id: str, openid: str) -> None:
        row = s.get(WeChatWindow, (community_id, openid))
        if row is not None:
            row.cs_sent += 1
            s.add(row)

    def _sent(self, community_id: str, openid: str, outbox_id: int | None, how: str) -> None:
        """After WeChat accepted an outbox row: record it and, for a customer-service message,
        count it against the window, in one transaction, never raising (see :class:`LateWrites`)."""
        app = self.app
        assert app is not None
        at = now_from(app)

        def write() -> None:
            with app.db.session() as s:
                if outbox_id is not None:
                    if s.get(WeChatDelivery, (self.name, outbox_id)) is not None:
                        return  # written before
                    s.add(WeChatDelivery(channel=self.name, outbox_id=outbox_id, how=how, at=at))
                if how == "custom":
                    self._count_sent(s, community_id, openid)

        self.late.run(("outbox", outbox_id) if outbox_id is not None else object(), write)

    def _close_window(self, community_id: str, openid: str) -> None:
        assert self.app is not None
        with self.app.db.session() as s:
            row = s.get(WeChatWindow, (community_id, openid))
            if row is not None:
                row.closed = True
                s.add(row)

    # ------------------------------------------------------------------ delivery

    def _openids(self, community_id: str, to: str) -> list[str]:
        if to.startswith("wx:"):
            return [to[3:]]
        if self.app is None:
            return []
        return self.app.identities.platform_ids(community_id, to, "wechat")

    def can_reach(self, community: str, to: str, chat_ref: str | None) -> bool:
        if to == GROUP or self.config(community) is None:
            return False
        found = self.communities.get(community)
        if (
            found is not None and found.wecom is not None and self.app is not None and not to.startswith("wx:")
            and self.app.identities.platform_ids(community, to, "wecom")
        ):
            return False  # staff on the community's WeCom app get everything there (no 48 h window)
        return bool(self._openids(community, to))

    def _pick_openid(self, community_id: str, openids: list[str]) -> str:
        """A person with several openids: the one that wrote last."""
        if len(openids) == 1 or self.app is None:
            return openids[0]
        with self.app.db.session() as s:
            rows = s.exec(
                select(WeChatWindow).where(WeChatWindow.community == community_id, WeChatWindow.openid.in_(openids))
            ).all()
        if not rows:
            return openids[0]
        return max(rows, key=lambda r: r.last_inbound_at).openid

    def _already(self, outbox_id: int) -> bool:
        assert self.app is not None
        with self.app.db.session() as s:
            return s.get(WeChatDelivery, (self.name, outbox_id)) is not None

    async def send(self, message: OutgoingMessage) -> None:
        app = self.app
        cfg = self.config(message.community)
        if app is None or cfg is None:
            raise DeliveryError("WeChat channel not started for this community")
        openids = self._openids(message.community, message.to)
        if not openids:
            raise RecipientUnreachable(f"{message.to} has no WeChat account linked")
        self.late.retry()
        if message.id is not None and (("outbox", message.id) in self.late or self._already(message.id)):
            return
        openid = self._pick_openid(message.community, openids)
        text = render_buttons(message.text, message.buttons)
        now = now_from(app)
        if self._window_open(message.community, openid, now):
            try:
                await self._custom(message.community, openid, text)
            except WeChatClientException as exc:
                if exc.errcode in WINDOW_ERRORS:
                    self._close_window(message.community, openid)
                else:
                    raise self._delivery_error(exc) from None
            else:
                self._sent(message.community, openid, message.id, "custom")
                return
        template_id = cfg.templates.get(message.event) or cfg.templates.get("default")
        if template_id:
            try:
                await self._template(message, openid, template_id, now)
            except WeChatClientException as exc:
                if exc.errcode in UNREACHABLE_ERRORS or exc.errcode in TOKEN_ERRORS or exc.errcode is None:
                    raise self._delivery_error(exc) from None
                log.warning("template message for %s refused: %s", message.community, exc)
            else:
                self._sent(message.community, openid, message.id, "template")
                return
        self._queue(message, openid, text, now)

    def _delivery_error(self, exc: WeChatClientException) -> DeliveryError:
        if exc.errcode in UNREACHABLE_ERRORS:
            return RecipientUnreachable(f"WeChat refuses this recipient (errcode {exc.errcode})")
        return DeliveryError(f"WeChat API error {exc.errcode}: {redact(str(exc.errmsg))}", retry_after=60)

    async def _custom(self, community_id: str, openid: str, text: str) -> None:
        client = self.client(community_id)
        try:
            await call_client(client, client.message.send_text, openid, text)
        except requests.RequestException as exc:
            raise DeliveryError(f"WeChat API unreachable: {type(exc).__name__}", retry_after=30) from None

    async def _template(self, message: OutgoingMessage, openid: str, template_id: str, now: datetime) -> None:
        community = self.communities.get(message.community)
        fields = self._extras(message.community).template_fields or DEFAULT_TEMPLATE_FIELDS
        values = {
            "text": message.text,
            "ticket": f"#{message.ticket}" if message.ticket is not None else "-",
            "time": now.astimezone(community.tz).strftime("%Y-%m-%d %H:%M"),
            "community": community.name,
            "event": message.event,
        }
        data = {key: {"value": str(fmt).format(**values)} for key, fmt in fields.items()}
        client = self.client(message.community)
        try:
            await call_client(client, client.message.send_template, openid, template_id, data)
        except requests.RequestException as exc:
            raise DeliveryError(f"WeChat API unreachable: {type(exc).__name__}", retry_after=30) from None

    def _queue(self, message: OutgoingMessage, openid: str, text: str, now: datetime) -> None:
        """Keep it for the resident's next message and tell the admins (never silently dropped)."""
        app = self.app
        assert app is not None
        with app.db.session() as s:
            s.add(
                WeChatQueued(
                    community=message.community, openid=openid, recipient=message.to, outbox_id=message.id,
                    event=message.event, ticket_id=message.ticket, text=text, created_at=now,
                )
            )
            if message.id is not None and s.get(WeChatDelivery, (self.name, message.id)) is None:
                s.add(WeChatDelivery(channel=self.name, outbox_id=message.id, how="queued", at=now))
        if message.event == "notice":
            return  # a notice to an admin who is out of reach: do not notify about the notification
        community = self.communities.get(message.community)
        who = community.person_name(message.to) if not message.to.startswith("wx:") else "一位居民"
        ticket = f"工单 #{message.ticket} " if message.ticket is not None else ""
        snippet = message.text if len(message.text) <= 60 else message.text[:60] + "…"
        app.notify_admins(
            message.community,
            f"{ticket}的消息无法通过公众号送达{who}（超过48小时未互动，且未配置模板消息），"
            f"已排队，待其下次发消息时送出。请另行联系。内容：{snippet}",
        )

    async def flush_queue(self, community_id: str, openid: str) -> int:
        """Send what was queued for this resident now that the window is open again."""
        app = self.app
        assert app is not None
        with app.db.session() as s:
            rows = s.exec(
                select(WeChatQueued)
                .where(
                    WeChatQueued.community == community_id,
                    WeChatQueued.openid == openid,
                    WeChatQueued.sent_at.is_(None),  # type: ignore[union-attr]
                )
                .order_by(WeChatQueued.id)  # type: ignore[arg-type]
            ).all()
        self.late.retry()
        sent = 0
        for row in rows:
            if ("queued", row.id) in self.late:
                continue  # sent already; its bookkeeping is late
            if not self._window_open(community_id, openid, now_from(app)):
                break
            try:
                await self._custom(community_id, openid, row.text)
            except (WeChatClientException, DeliveryError) as exc:
                if isinstance(exc, WeChatClientException) and exc.errcode in WINDOW_ERRORS:
                    self._close_window(community_id, openid)
                log.warning("queued WeChat message %s not sent yet: %s", row.id, redact(str(exc)))
                with app.db.session() as s:
                    fresh = s.get(WeChatQueued, row.id)
                    if fresh is not None:
                        fresh.attempts += 1
                        s.add(fresh)
                break
            self.late.run(("queued", row.id), self._queued_sent(community_id, openid, row.id, now_from(app)))
            sent += 1
        return sent

    def _queued_sent(self, community_id: str, openid: str, queued_id: int | None, at: datetime) -> Callable[[], None]:
        """The write after a queued message went out: mark it sent and count it, once."""
        app = self.app
        assert app is not None

        def write() -> None:
            with app.db.session() as s:
                fresh = s.get(WeChatQueued, queued_id)
                if fresh is None or fresh.sent_at is not None:
                    return
                fresh.sent_at = at
                s.add(fresh)
                self._count_sent(s, community_id, openid)

        return write
