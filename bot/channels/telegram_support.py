"""Platform details of the Telegram adapter that need no running bot: texts, parsing, the lenient bot.

Kept apart from :mod:`bot.channels.telegram` so the adapter stays a thin translation layer and these
pieces are unit-tested on their own.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ExtBot

from handlers.messages import Button

log = logging.getLogger("linli.telegram")

#: Telegram's limits (Bot API: sendMessage text 1-4096 characters, callback_data 1-64 bytes).
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64

#: The updates the bot asks Telegram for. Edited messages are not asked for: they are never re-ticketed.
ALLOWED_UPDATES = ["message", "callback_query"]

HELP_UNKNOWN = (
    "您好，我是邻里小区助手。\n"
    "业主：请直接在小区群里说明问题（如“3号楼2单元楼道灯不亮”），我会转给负责的工作人员。\n"
    "工作人员和需要私信通知的业主：请点击管理员发给您的邀请链接完成绑定。"
)
INVITE_INVALID = "邀请码无效。请向小区管理员索取新的邀请链接。"
BIND_USAGE = "用法：/bind <小区编号>（由该小区管理员在群里发送）。"


def linked_text(person_name: str, community_name: str) -> str:
    return f"绑定成功：{person_name}（{community_name}）。以后工单通知会私信发给您，可直接点按钮或回复命令。"


def bound_text(community_name: str) -> str:
    return f"本群已绑定到「{community_name}」。群里的报修消息会自动转给负责人。"


def fallback_mention_text(user_id: str, name: str, bot_username: str | None, ticket: int | None) -> str:
    """The group mention when a private message cannot be delivered: no private content, no phone."""
    who = f'<a href="tg://user?id={html.escape(str(user_id))}">{html.escape(name)}</a>'
    bot = f"@{bot_username}" if bot_username else "本机器人"
    about = f"（工单 #{ticket}）" if ticket is not None else ""
    then = f"，然后发送 /status {ticket} 查看" if ticket is not None else ""
    return f"{who}：机器人无法私信您{about}。请先私聊 {bot} 并发送 /start{then}。"


def admin_unreachable_text(name: str, person: str, ticket: int | None) -> str:
    about = f"工单 #{ticket} 的" if ticket is not None else ""
    return f"无法在 Telegram 上私信 {name}（{person}）：对方没有启动机器人或已屏蔽。{about}通知已改为在群里提醒，请线下联系并发给他邀请链接。"


_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)@([A-Za-z0-9_]+)(?=\s|$)")


def normalize_command(text: str, bot_username: str | None) -> str | None:
    """``/accept@linli_bot 12`` → ``/accept 12``; a command addressed to another bot → None."""
    match = _COMMAND.match(text)
    if not match:
        return text
    if bot_username and match.group(2).lower() != bot_username.lower():
        return None
    return f"/{match.group(1)}{text[match.end():]}"


def command_args(text: str, command: str) -> list[str] | None:
    """The arguments when ``text`` is ``/command ...`` (already normalized), else None."""
    parts = text.split()
    if not parts or parts[0].lower() != f"/{command}":
        return None
    return parts[1:]


def reply_message_id(reply_to: str | None, chat_ref: str) -> int | None:
    """The Telegram message id inside a core ``reply_to`` (``"<chat id>:<message id>"``) for that chat."""
    if not reply_to or ":" not in reply_to:
        return None
    chat, _, message = reply_to.rpartition(":")
    if chat != str(chat_ref):
        return None
    try:
        return int(message)
    except ValueError:
        return None


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Inline buttons whose ``callback_data`` is the command they stand for (three per row)."""
    usable = []
    for button in buttons:
        if 1 <= len(button.command.encode()) <= MAX_CALLBACK_DATA:
            usable.append(InlineKeyboardButton(button.label, callback_data=button.command))
        else:
            log.warning("button %r dropped: its command is longer than %d bytes", button.label, MAX_CALLBACK_DATA)
    if not usable:
        return None
    return InlineKeyboardMarkup([usable[i : i + 3] for i in range(0, len(usable), 3)])


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def sanitize_updates(raw: Iterable[Any], bot: Any) -> list[Any]:
    """Replace every update python-telegram-bot cannot parse by an empty ``{"update_id": N}``.

    PTB parses a whole ``getUpdates`` batch at once; one malformed update (e.g. a pre-Bot-API-3
    body without ``from.is_bot``) makes the batch fail, the offset is never confirmed and the
    same batch is fetched forever. Emptied, it is confirmed and skipped, and the rest is served.
    """
    out = []
    for item in raw:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.error("dropping an update without an integer update_id: %.300r", item)
            continue
        try:
            Update.de_json(item, bot)
        except Exception as exc:  # any parse failure: PTB raises TypeError/KeyError/ValueError...
            log.error("skipping update %s that python-telegram-bot cannot read (%s): %.300r", update_id, exc, item)
            out.append({"update_id": update_id})
            continue
        out.append(item)
    return out


class LenientExtBot(ExtBot):
    """PTB's ``ExtBot`` that skips unreadable updates instead of refetching them forever."""

    __slots__ = ()

    async def _post(self, endpoint: str, data: Any = None, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            result = sanitize_updates(result, self)
        return result
