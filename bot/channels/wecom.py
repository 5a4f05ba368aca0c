"""WeCom (企业微信) app adapter: building heads and grid workers get their tasks as app messages and
answer with the same text commands (``/accept N``, ``/done N``, …).

Callback ``/wecom/<community id>`` (served by :mod:`bot.channels.web`): WeCom's URL verification
(``GET``: msg_signature over the encrypted echostr, answered with the decrypted echostr) and AES
messages (``POST``) through ``wechatpy.enterprise.crypto.WeChatCrypto``. Bad signature → 403 and
nothing processed; malformed XML / DOCTYPE → 400; body over 64 KiB → 413.

A text from a WeCom ``userid`` goes to the core as a private message from
``app.identities.resolve(community, "wecom", userid)`` (the community file's ``wecom_userid`` is
included), else ``wecom:<userid>``; ``platform_id`` is the MsgId (the core dedupes retries).

Outgoing messages are app messages (``message/send``) to the person's userid: a ``textcard`` when the
community file gives a link for tickets (``wecom.ticket_url: "https://…/tickets/{ticket}"``), text
otherwise. Community file::

    wecom:
      corp_id: ${WECOM_CORP_ID}
      agent_id: 1000002
      secret: ${WECOM_SECRET}
      token: ${WECOM_TOKEN}
      encoding_aes_key: ${WECOM_AES_KEY}
      ticket_url: https://linli.example.org/t/{ticket}   # optional
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import requests
from pydantic import BaseModel, ConfigDict, field_validator
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.enterprise.replies import TextReply
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException

from bot.channels.base import Channel, DeliveryError, RecipientUnreachable
from bot.channels.wechat import check_extras
from bot.channels.wechat_common import (
    MAX_BODY,
    BodyTooLarge,
    LateWrites,
    Submitter,
    WorkClient,
    call_client,
    looks_unsafe,
    now_from,
    read_body,
    redact,
    render_buttons,
)
from handlers.messages import GROUP, IncomingMessage, OutgoingMessage
from storage.wechat_state import WeChatDelivery, create_tables

if TYPE_CHECKING:  # pragma: no cover
    from bot.app import LinliApp

log = logging.getLogger("linli.wechat")

#: WeCom errors meaning "no such user in this app / not visible to the app".
UNREACHABLE_ERRORS = {60111, 81013, 82001, 40031}

NOT_TEXT_REPLY = "请发送文字命令，例如：/mine（我的工单）、/accept 12（接单）、/done 12 已修好。"


class WeComExtras(BaseModel):
    """The adapter's own keys under ``wecom:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: A link for tickets (``https://…/t/{ticket}``): tasks become text cards. Without it: plain text.
    ticket_url: str | None = None

    @field_validator("ticket_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://linli.example.org/t/{ticket}")
        try:
            value.format(ticket=1, community="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {ticket} and {community} may be used as placeholders") from None
        return value


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes (WeCom counts bytes), cut at a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", "ignore") + "…"


class WeComChannel(Channel):
    """The WeCom app channel for every community with ``wecom:`` in its community file."""

    name = "wecom"

    def __init__(self, communities: Any, api_base: str | None = None) -> None:
        self.communities = communities
        self.api_base = api_base
        self.extras: dict[str, WeComExtras] = check_extras(WeComExtras, "wecom", communities)  # type: ignore[assignment]
        self.app: LinliApp | None = None
        self.submitter = Submitter()
        self._clients: dict[str, WorkClient] = {}
        self._cryptos: dict[str, WeChatCrypto] = {}
        self.late = LateWrites()

    @classmethod
    def from_settings(cls, settings: Any, communities: Any) -> WeComChannel | None:
        if not any(c.wecom is not None for c in communities.all()):
            return None
        return cls(communities, api_base=getattr(settings, "wechat_api_base", None))

    async def start(self, app: LinliApp) -> None:
        self.app = app
        create_tables(app.db.engine)

    async def stop(self) -> None:
        await self.submitter.drain(timeout=5.0)

    def config(self, community_id: str) -> Any | None:
        community = self.communities.get(community_id)
        return community.wecom if community is not None else None

    def client(self, community_id: str) -> WorkClient:
        client = self._clients.get(community_id)
        if client is None:
            cfg = self.config(community_id)
            assert cfg is not None
            client = WorkClient(cfg.corp_id, cfg.secret, api_base=self.api_base)
            self._clients[community_id] = client
        return client

    def _crypto(self, community_id: str, cfg: Any) -> WeChatCrypto:
        crypto = self._cryptos.get(community_id)
        if crypto is None:
            crypto = WeChatCrypto(cfg.token, cfg.encoding_aes_key, cfg.corp_id)
            self._cryptos[community_id] = crypto
        return crypto

    # ------------------------------------------------------------------ callback

    async def handle(self, request: Request, community_id: str) -> Response:
        cfg = self.config(community_id)
        if cfg is None or self.app is None:
            return PlainTextResponse("unknown community", status_code=404)
        q = request.query_params
        signature, timestamp, nonce = q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
        crypto = self._crypto(community_id, cfg)
        if request.method == "GET":
            try:
                echo = crypto.check_signature(signature, timestamp, nonce, q.get("echostr", ""))
            except (InvalidSignatureException, InvalidCorpIdException):
                return PlainTextResponse("forbidden", status_code=403)
            except Exception:
                return PlainTextResponse("bad request", status_code=400)
            return PlainTextResponse(echo.decode("utf-8") if isinstance(echo, bytes) else echo)
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return PlainTextResponse("too large", status_code=413)
        if looks_unsafe(body):
            return PlainTextResponse("bad request", status_code=400)
        try:
            plain = crypto.decrypt_message(body.decode("utf-8"), signature, timestamp, nonce)
        except (InvalidSignatureException, InvalidCorpIdException):
            return PlainTextResponse("forbidden", status_code=403)
        except Exception:
            return PlainTextResponse("bad request", status_code=400)
        plain = plain.decode("utf-8") if isinstance(plain, bytes) else plain
        if looks_unsafe(plain):
            return PlainTextResponse("bad request", status_code=400)
        try:
            message = parse_message(plain)
            kind = (message.type or "").lower()
            userid = message.source
            _ = message.id, message.target  # typed fields: a bad MsgId is a bad request, not a crash
        except Exception:
            return PlainTextResponse("bad request", status_code=400)
        if not isinstance(userid, str) or not userid:
            return PlainTextResponse("bad request", status_code=400)
        if kind == "event":
            return PlainTextResponse("")
        if kind != "text":
            xml = TextReply(source=message.target, target=userid, content=NOT_TEXT_REPLY, agent=cfg.agent_id).render()
            return Response(crypto.encrypt_message(xml, nonce, timestamp), media_type="application/xml")
        text = message.content
        if not isinstance(text, str) or not text.strip():
            return PlainTextResponse("")
        try:
            return await self._submit(community_id, userid, text, message)
        except Exception as exc:
            log.error("WeCom message for %s not handled: %s", community_id, redact(repr(exc)))
            return PlainTextResponse("try again", status_code=500)

    async def _submit(self, community_id: str, userid: str, text: str, message: Any) -> Response:
        app = self.app
        assert app is not None
        sender = app.identities.resolve(community_id, "wecom", userid) or f"wecom:{userid}"
        incoming = IncomingMessage(
            community=community_id,
            chat="private",
            sender=sender,
            text=text.strip(),
            at=now_from(app),
            platform_id=str(message.id) if message.id else None,
            channel=self.name,
            chat_ref=None,
        )
        if not await self.submitter.run(app.submit(incoming), f"wecom message {message.id}"):
            return PlainTextResponse("try again", status_code=500)
        return PlainTextResponse("")

    # ------------------------------------------------------------------ delivery

    def _userids(self, community_id: str, to: str) -> list[str]:
        if to.startswith("wecom:"):
            return [to[len("wecom:"):]]
        if self.app is None:
            return []
        return self.app.identities.platform_ids(community_id, to, "wecom")

    def can_reach(self, community: str, to: str, chat_ref: str | None) -> bool:
        if to == GROUP or self.config(community) is None:
            return False
        return bool(self._userids(community, to))

    async def send(self, message: OutgoingMessage) -> None:
        app = self.app
        cfg = self.config(message.community)
        if app is None or cfg is None:
            raise DeliveryError("WeCom channel not started for this community")
        userids = self._userids(message.community, message.to)
        if not userids:
            raise RecipientUnreachable(f"{message.to} has no WeCom account linked")
        self.late.retry()
        if ("outbox", message.id) in self.late:
            return  # sent already; its record is late
        with app.db.session() as s:
            if s.get(WeChatDelivery, (self.name, message.id)) is not None:
                return
        text = render_buttons(message.text, message.buttons)
        client = self.client(message.community)
        extras = self.extras.get(message.community)
        url_pattern = extras.ticket_url if extras is not None else None
        touser = "|".join(userids)
        try:
            if url_pattern and message.ticket is not None:
                title, _, rest = text.partition("\n")
                result = await call_client(
                    client, client.message.send_text_card, cfg.agent_id, touser,
                    _clip(title, 128) or f"工单 #{message.ticket}", _clip(rest or title, 512),
                    str(url_pattern).format(ticket=message.ticket, community=message.community), "查看",
                )
            else:
                result = await call_client(client, client.message.send_text, cfg.agent_id, touser, text)
        except WeChatClientException as exc:
            if exc.errcode in UNREACHABLE_ERRORS:
                raise RecipientUnreachable(f"WeCom refuses this recipient (errcode {exc.errcode})") from None
            raise DeliveryError(f"WeCom API error {exc.errcode}: {redact(str(exc.errmsg))}", retry_after=60) from None
        except requests.RequestException as exc:
            raise DeliveryError(f"WeCom API unreachable: {type(exc).__name__}", retry_after=30) from None
        invalid = set(str((result or {}).get("invaliduser") or "").split("|")) - {""}
        if invalid and invalid >= set(userids):
            raise RecipientUnreachable("WeCom: the recipient is not visible to this app")
        at = now_from(app)

        def record() -> None:  # never raises: WeCom has the message (see LateWrites)
            with app.db.session() as s:
                if s.get(WeChatDelivery, (self.name, message.id)) is None:
                    s.add(WeChatDelivery(channel=self.name, outbox_id=message.id, how="app", at=at))

        self.late.run(("outbox", message.id), record)
