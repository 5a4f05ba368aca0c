"""Telegram channel: python-telegram-bot (v22) as a thin adapter over the channel-neutral core.

Incoming: group text (and photo captions) of bound groups, private messages and inline-button
presses become :class:`~handlers.messages.IncomingMessage` handed to ``LinliApp.submit``; the core
dedupes them by ``platform_id`` (``"<chat id>:<message id>"``, ``"cb:<query id>"``). Edited messages
are never re-ticketed. ``/start <code>`` redeems an invite, ``/bind <community id>`` (by an admin of
that community) binds a group.

Outgoing: :meth:`TelegramChannel.send` delivers outbox rows; it raises
:class:`~bot.channels.base.DeliveryError` for anything worth retrying (flood control, network) so
the outbox keeps the row, and falls back to a group mention (and tells the admins) when a person
cannot be messaged privately.

Long polling by default; webhook mode with a ``secret_token`` when ``LINLI_TELEGRAM_WEBHOOK_URL``
is set. ``LINLI_TELEGRAM_BASE_URL`` points PTB at a local Bot API server (and the tests at a fake).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import warnings
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from telegram import Message, ReplyParameters, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from bot.channels.base import Channel, DeliveryError, RecipientUnreachable
from bot.channels.telegram_support import (
    ALLOWED_UPDATES,
    BIND_USAGE,
    HELP_UNKNOWN,
    INVITE_INVALID,
    LenientExtBot,
    admin_unreachable_text,
    bound_text,
    clip,
    command_args,
    fallback_mention_text,
    keyboard,
    linked_text,
    normalize_command,
    reply_message_id,
)
from handlers.messages import GROUP, IncomingMessage, OutgoingMessage

if TYPE_CHECKING:  # pragma: no cover
    from bot.app import LinliApp

log = logging.getLogger("linli.telegram")

PLATFORM = "telegram"


def _file_url(base_url: str) -> str:
    """``http://host/bot`` → ``http://host/file/bot`` (how the Bot API server lays out file downloads)."""
    head, sep, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if sep else base_url


class TelegramChannel(Channel):
    """One bot serving every community whose groups are bound to it."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        base_file_url: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        poll_timeout: float = 10.0,
        communities: Any = None,
    ) -> None:
        self.token = token
        self.base_url = base_url
        self.base_file_url = base_file_url or (_file_url(base_url) if base_url else None)
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret or (secrets.token_urlsafe(32) if webhook_url else None)
        self.webhook_listen = webhook_listen
        self.webhook_port = webhook_port
        self.poll_timeout = poll_timeout
        self.communities = communities
        self.app: LinliApp | None = None
        self.application: Application | None = None
        self.bot_username: str | None = None
        self.privacy_mode: bool | None = None
        self._unbound_logged: set[str] = set()
        self._mentioned: set[tuple[str, str, int | None]] = set()
        self._admins_told: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(cls, settings: Any, communities: Any) -> TelegramChannel | None:
        """The channel for ``LINLI_TELEGRAM_*`` settings, or None when no token is configured."""
        token = getattr(settings, "telegram_token", None)
        if not token:
            return None
        return cls(
            token,
            base_url=getattr(settings, "telegram_base_url", None),
            base_file_url=getattr(settings, "telegram_base_file_url", None),
            webhook_url=getattr(settings, "telegram_webhook_url", None),
            webhook_secret=getattr(settings, "telegram_webhook_secret", None),
            webhook_listen=getattr(settings, "telegram_webhook_listen", "127.0.0.1"),
            webhook_port=getattr(settings, "telegram_webhook_port", 8443),
            communities=communities,
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def build_application(self) -> Application:
        """PTB's Application on a lenient ExtBot with ``AIORateLimiter`` (no internal retries:
        a flood wait goes back to the outbox as ``DeliveryError(retry_after=...)``)."""
        kwargs: dict[str, Any] = {}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        if self.base_file_url:
            kwargs["base_file_url"] = self.base_file_url
        bot = LenientExtBot(
            self.token,
            request=HTTPXRequest(connection_pool_size=8, connect_timeout=5.0, read_timeout=10.0),
            get_updates_request=HTTPXRequest(connection_pool_size=2, connect_timeout=5.0, read_timeout=5.0),
            rate_limiter=AIORateLimiter(max_retries=0),
            **kwargs,
        )
        application = ApplicationBuilder().bot(bot).build()
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        return application

    async def start(self, app: LinliApp) -> None:
        self.app = app
        if self.communities is None:
            self.communities = app.communities
        # httpx logs every request URL at INFO, and Bot API URLs contain the token: keep it out of logs.
        httpx_log = logging.getLogger("httpx")
        if httpx_log.getEffectiveLevel() < logging.WARNING:
            httpx_log.setLevel(logging.WARNING)
        application = self.build_application()
        await self._initialize(application)
        self.application = application
        me = application.bot.bot
        self.bot_username = me.username
        self.privacy_mode = not me.can_read_all_group_messages
        if self.privacy_mode:
            log.warning(
                "Telegram privacy mode is ON for @%s: the bot only sees commands and replies in groups. "
                "Turn it off in @BotFather: /setprivacy → @%s → Disable, then remove and re-add the bot to each group.",
                me.username,
                me.username,
            )
        updater = application.updater
        assert updater is not None
        if self.webhook_url:
            url_path = urlparse(self.webhook_url).path.lstrip("/")
            await updater.start_webhook(
                listen=self.webhook_listen,
                port=self.webhook_port,
                url_path=url_path,
                webhook_url=self.webhook_url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
            log.info("Telegram @%s: webhook on %s:%s/%s", me.username, self.webhook_listen, self.webhook_port, url_path)
        else:
            await updater.start_polling(
                poll_interval=0.0,
                timeout=timedelta(seconds=self.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
                error_callback=self._on_polling_error,
            )
            log.info("Telegram @%s: long polling", me.username)
        await application.start()

    async def _initialize(self, application: Application, attempts: int = 5) -> None:
        """``Application.initialize`` (it calls getMe), retried while Telegram is unreachable."""
        delay = 1.0
        for attempt in range(1, attempts + 1):
            try:
                await application.initialize()
                return
            except InvalidToken as exc:
                await self._close_client(application)
                raise RuntimeError("LINLI_TELEGRAM_TOKEN was rejected by Telegram (check it with @BotFather)") from exc
            except NetworkError as exc:
                if attempt == attempts:
                    await self._close_client(application)
                    raise
                log.warning("Telegram not reachable at start (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay *= 2

    @staticmethod
    async def _close_client(application: Application) -> None:
        try:
            await application.bot.shutdown()
        except Exception:  # best effort while failing to start
            log.debug("closing the Telegram client failed", exc_info=True)

    async def stop(self) -> None:
        """Stop fetching, finish the updates already fetched, confirm the offset, release the client."""
        application, self.application = self.application, None
        if application is None:
            return
        try:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()  # polling: one last getUpdates confirms the offset
            if application.running:
                await application.stop()  # processes the updates still queued
        finally:
            await application.shutdown()

    # -- reachability and delivery ---------------------------------------------------------------
    def can_reach(self, community: str, to: str, chat_ref: str | None) -> bool:
        if self.app is None:
            return False
        if to == GROUP:
            if chat_ref:
                return self.app.bindings.community_for(PLATFORM, str(chat_ref)) == community
            return bool(self.app.bindings.chats_of(community, PLATFORM))
        return bool(self.app.identities.platform_ids(community, to, PLATFORM))

    async def send(self, message: OutgoingMessage) -> None:
        if self.app is None or self.application is None:
            raise DeliveryError("telegram channel is not running")
        if message.to == GROUP:
            await self._send_group(message)
        else:
            await self._send_person(message)

    async def _send_group(self, message: OutgoingMessage) -> None:
        assert self.app is not None
        chat_ref = message.chat_ref
        if not chat_ref or self.app.bindings.community_for(PLATFORM, str(chat_ref)) != message.community:
            chats = self.app.bindings.chats_of(message.community, PLATFORM)
            if not chats:
                raise RecipientUnreachable(f"community {message.community} has no bound Telegram group")
            chat_ref = chats[0]
        reply_to = reply_message_id(message.reply_to, str(chat_ref))
        try:
            await self._send(int(chat_ref), message, reply_to)
        except Forbidden as exc:
            raise RecipientUnreachable(f"bot cannot write to group {chat_ref}: {exc.message}") from exc
        except BadRequest as exc:
            raise RecipientUnreachable(f"group {chat_ref} refused the message: {exc.message}") from exc

    async def _send_person(self, message: OutgoingMessage) -> None:
        assert self.app is not None
        ids = self.app.identities.platform_ids(message.community, message.to, PLATFORM)
        if not ids:
            raise RecipientUnreachable(f"{message.to} has no linked Telegram account")
        refused: Exception | None = None
        for user_id in reversed(ids):  # the newest link first
            try:
                await self._send(int(user_id), message, None)
                return
            except (Forbidden, BadRequest) as exc:  # blocked, never started, or unknown chat
                log.info("cannot message %s (%s) privately: %s", message.to, user_id, exc.message)
                refused = exc
        await self._fall_back(message, ids[0], refused)

    async def _send(self, chat_id: int, message: OutgoingMessage, reply_to: int | None) -> None:
        """One sendMessage; retry-worthy failures become DeliveryError."""
        assert self.application is not None
        bot = self.application.bot
        kwargs: dict[str, Any] = {}
        if reply_to is not None:
            kwargs["reply_parameters"] = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
        markup = keyboard(message.buttons) if message.buttons else None
        if markup is not None:
            kwargs["reply_markup"] = markup
        try:
            try:
                await bot.send_message(chat_id=chat_id, text=clip(message.text), **kwargs)
            except ChatMigrated as exc:  # the group became a supergroup: follow it once
                self._rebind(str(chat_id), str(exc.new_chat_id))
                await bot.send_message(chat_id=exc.new_chat_id, text=clip(message.text), **kwargs)
        except RetryAfter as exc:
            raise DeliveryError(f"telegram flood control: {exc.message}", retry_after=_retry_seconds(exc)) from exc
        except (Forbidden, BadRequest):
            raise
        except NetworkError as exc:  # includes TimedOut
            raise DeliveryError(f"telegram network error: {exc.message}") from exc
        except TelegramError as exc:
            raise DeliveryError(f"telegram error: {exc.message}") from exc

    async def _fall_back(self, message: OutgoingMessage, user_id: str, cause: Exception | None) -> None:
        """A person cannot be messaged privately: mention them in the group (nothing private), tell the admins."""
        assert self.app is not None and self.application is not None
        community = self.app.communities.get(message.community)
        name = community.person_name(message.to) if community else message.to
        groups = self.app.bindings.chats_of(message.community, PLATFORM)
        if not groups:
            raise RecipientUnreachable(f"{message.to} cannot be messaged on Telegram and no group is bound") from cause
        key = (message.community, message.to, message.ticket)
        if key not in self._mentioned:
            self._mentioned.add(key)
            text = fallback_mention_text(user_id, name, self.bot_username, message.ticket)
            try:
                await self.application.bot.send_message(chat_id=int(groups[0]), text=text, parse_mode=ParseMode.HTML)
            except RetryAfter as exc:
                self._mentioned.discard(key)
                raise DeliveryError("telegram flood control", retry_after=_retry_seconds(exc)) from exc
            except (Forbidden, BadRequest) as exc:
                raise RecipientUnreachable(f"fallback group {groups[0]} refused: {exc.message}") from exc
            except TelegramError as exc:
                self._mentioned.discard(key)
                raise DeliveryError(f"telegram error: {exc.message}") from exc
        is_admin = community is not None and message.to in community.admins
        told = (message.community, message.to)
        if message.event != "notice" and not is_admin and told not in self._admins_told:
            self._admins_told.add(told)
            self.app.notify_admins(message.community, admin_unreachable_text(name, message.to, message.ticket))

    # -- incoming ----------------------------------------------------------------------------------
    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_callback(update)
        elif update.message is not None:
            await self._on_message(update.message)
        elif update.edited_message is not None:
            log.debug("edited message %s ignored (not re-ticketed)", update.edited_message.message_id)

    async def _on_message(self, message: Message) -> None:
        assert self.app is not None
        chat = message.chat
        if message.migrate_to_chat_id is not None:
            self._rebind(str(chat.id), str(message.migrate_to_chat_id))
            return
        user = message.from_user
        if user is None or user.is_bot:
            return
        raw = message.text if message.text is not None else message.caption
        if not raw or not raw.strip():
            return
        text = normalize_command(raw.strip(), self.bot_username)
        if text is None:  # a command for another bot
            return
        if chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            await self._on_group(message, text)
        elif chat.type == ChatType.PRIVATE:
            await self._on_private(message, text)

    async def _on_group(self, message: Message, text: str) -> None:
        assert self.app is not None and message.from_user is not None
        chat_ref = str(message.chat.id)
        args = command_args(text, "bind")
        if args is not None:
            await self._bind(message, args)
            return
        community = self.app.bindings.community_for(PLATFORM, chat_ref)
        if community is None:
            if chat_ref not in self._unbound_logged:
                self._unbound_logged.add(chat_ref)
                log.warning(
                    "ignoring Telegram group %s (%r): not bound to a community (/bind <community id> by an admin, "
                    "or telegram.groups in the community file)",
                    chat_ref,
                    message.chat.title,
                )
            return
        user = message.from_user
        sender = self.app.identities.resolve(community, PLATFORM, str(user.id)) or f"tg:{user.id}"
        await self._submit(
            IncomingMessage(
                community=community,
                chat="group",
                sender=sender,
                text=text,
                at=message.date,
                platform_id=f"{chat_ref}:{message.message_id}",
                channel=PLATFORM,
                chat_ref=chat_ref,
                reply_to=(f"{chat_ref}:{message.reply_to_message.message_id}" if message.reply_to_message else None),
                sender_name=user.full_name,
            )
        )

    async def _bind(self, message: Message, args: list[str]) -> None:
        """``/bind <community id>`` in a group, accepted from a linked admin of that community."""
        assert self.app is not None and message.from_user is not None
        chat_ref = str(message.chat.id)
        if len(args) != 1:
            await self._reply(message, BIND_USAGE)
            return
        community = self.communities.get(args[0]) if self.communities is not None else None
        person = self.app.identities.resolve(args[0], PLATFORM, str(message.from_user.id)) if community else None
        if community is None or person is None or person not in community.admins:
            log.warning("refused /bind %s in %s by Telegram user %s", args[0], chat_ref, message.from_user.id)
            await self._reply(message, "只有该小区已绑定身份的管理员可以绑定本群。")
            return
        current = self.app.bindings.community_for(PLATFORM, chat_ref)
        if current is not None and current != community.id:
            await self._reply(message, "本群已绑定到另一个小区，请先在那个小区的配置里解除。")
            return
        self.app.bindings.bind(PLATFORM, chat_ref, community.id)
        self._unbound_logged.discard(chat_ref)
        log.info("Telegram group %s bound to %s by %s", chat_ref, community.id, person)
        await self._reply(message, bound_text(community.name))

    async def _on_private(self, message: Message, text: str) -> None:
        assert self.app is not None and message.from_user is not None
        user = message.from_user
        args = command_args(text, "start")
        if args is not None:
            await self._start(message, args)
            return
        links = self._links(str(user.id))
        if not links:
            await self._reply(message, HELP_UNKNOWN)
            return
        community, person = links[0]
        await self._submit(
            IncomingMessage(
                community=community,
                chat="private",
                sender=person,
                text=text,
                at=message.date,
                platform_id=f"{message.chat.id}:{message.message_id}",
                channel=PLATFORM,
                chat_ref=str(message.chat.id),
                sender_name=user.full_name,
            )
        )

    async def _start(self, message: Message, args: list[str]) -> None:
        """``/start <code>`` from a deep link ``https://t.me/<bot>?start=<code>``: link the account."""
        assert self.app is not None and message.from_user is not None
        user_id = str(message.from_user.id)
        if args:
            found = self.app.identities.redeem_invite(args[0], PLATFORM, user_id)
            if found is None:
                await self._reply(message, INVITE_INVALID)
                return
            community_id, person = found
            community = self.app.communities.get(community_id)
            log.info("Telegram user %s linked to %s/%s", user_id, community_id, person)
            await self._reply(
                message,
                linked_text(
                    community.person_name(person) if community else person,
                    community.name if community else community_id,
                ),
            )
            return
        links = self._links(user_id)
        if links:
            community_id, person = links[0]
            community = self.app.communities.get(community_id)
            await self._reply(
                message,
                linked_text(
                    community.person_name(person) if community else person,
                    community.name if community else community_id,
                ),
            )
        else:
            await self._reply(message, HELP_UNKNOWN)

    async def _on_callback(self, update: Update) -> None:
        """An inline button: acknowledge it, then submit its command like a typed private message."""
        assert self.app is not None
        query = update.callback_query
        assert query is not None
        links = self._links(str(query.from_user.id))
        try:
            if links:
                await query.answer()
            else:
                await query.answer("请先点击管理员发给您的邀请链接完成绑定。", show_alert=True)
        except TelegramError as exc:  # e.g. "query is too old" when a press is replayed after a restart
            log.info("answerCallbackQuery %s failed: %s", query.id, exc)
        if not links or not query.data:
            return
        community, person = links[0]
        chat_ref = str(query.message.chat.id) if query.message is not None else str(query.from_user.id)
        await self._submit(
            IncomingMessage(
                community=community,
                chat="private",
                sender=person,
                text=query.data,
                at=self._now(),
                platform_id=f"cb:{query.id}",
                channel=PLATFORM,
                chat_ref=chat_ref,
                sender_name=query.from_user.full_name,
            )
        )

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed: %r", update_id, context.error, exc_info=context.error)

    def _on_polling_error(self, exc: TelegramError) -> None:
        log.warning("Telegram polling error (retrying): %s", exc)

    # -- helpers -----------------------------------------------------------------------------------
    async def _submit(self, msg: IncomingMessage, attempts: int = 3) -> None:
        """Hand a message to the core, retried on a transient failure (the core dedupes by
        ``platform_id``, so a retry never doubles it). PTB has already confirmed the update, so
        giving up is logged loudly with the message for a manual replay."""
        assert self.app is not None
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                await self.app.submit(msg)
                return
            except Exception:
                if attempt == attempts:
                    log.exception("LOST Telegram message %s after %d attempts: %r", msg.platform_id, attempts, msg)
                    return
                log.warning("submitting Telegram message %s failed; retrying", msg.platform_id, exc_info=True)
                await asyncio.sleep(delay)
                delay *= 2

    async def _reply(self, message: Message, text: str) -> None:
        """A direct answer of the adapter itself (help, invite, bind); failures are only logged."""
        try:
            await message.reply_text(text, do_quote=message.chat.type != ChatType.PRIVATE)
        except TelegramError as exc:
            log.warning("could not answer in chat %s: %s", message.chat.id, exc)

    def _links(self, user_id: str) -> list[tuple[str, str]]:
        """(community, person) pairs this Telegram account is linked to, file links first."""
        assert self.app is not None
        identities = self.app.identities
        if hasattr(identities, "communities_of"):
            return list(identities.communities_of(PLATFORM, user_id))
        found = []
        for community in self.app.communities.all():
            person = identities.resolve(community.id, PLATFORM, user_id)
            if person:
                found.append((community.id, person))
        return found

    def _rebind(self, old_chat: str, new_chat: str) -> None:
        assert self.app is not None
        community = self.app.bindings.community_for(PLATFORM, old_chat)
        if community is not None:
            self.app.bindings.bind(PLATFORM, new_chat, community)
            log.info("Telegram group %s migrated to %s: bound to %s", old_chat, new_chat, community)

    def _now(self) -> datetime:
        clock = getattr(self.app, "clock", None)
        if clock is not None and hasattr(clock, "now"):
            return clock.now()
        return datetime.now(UTC)


def _retry_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` in seconds (an int or a timedelta depending on ``PTB_TIMEDELTA``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22.2+ deprecation notice about the int form
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
