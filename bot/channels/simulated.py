"""The simulated channel: a chat replayed from JSON lines, every bot message written as JSON lines.

Tests, the demo and admins replaying a day all use it; it takes exactly the production path
(core, follow-up sweep, outbox delivery) with a manual clock.
"""

from __future__ import annotations

import json
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.channels.base import Channel
from bot.clock import Clock
from handlers.messages import OutgoingMessage


class SimulatedChannel(Channel):
    """Reaches everybody; "sending" writes one JSON line (and, if ``pretty``, a chat-like line).

    A line is flushed before ``send`` returns: the outbox marks the row sent only after that, so a
    ``kill -9`` never loses a line that the database says was sent (a crash between the flush and
    the mark can repeat one, as any channel can)."""

    name = "simulated"

    def __init__(self, out: TextIO, clock: Clock, tz: ZoneInfo, names: dict[str, str] | None = None,
                 pretty: TextIO | None = None) -> None:
        self.out, self.clock, self.tz = out, clock, tz
        self.names = names or {}
        self.pretty = pretty
        self.sent: list[dict] = []

    def can_reach(self, community: str, to: str, chat_ref: str | None) -> bool:
        return True

    async def send(self, message: OutgoingMessage) -> None:
        at = self.clock.now().astimezone(self.tz)
        record = {"at": at.isoformat(), "to": message.to, "ticket": message.ticket, "event": message.event,
                  "text": message.text}
        self.sent.append(record)
        if self.out is not None:
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.out.flush()
        if self.pretty is not None:
            who = "业主群" if message.to == "group" else self.names.get(message.to, message.to)
            tag = f" #{message.ticket}" if message.ticket else ""
            body = message.text.replace("\n", "\n" + " " * 8)
            buttons = "  " + " ".join(f"[{b.label}]" for b in message.buttons) if message.buttons else ""
            self.pretty.write(f"{at:%m-%d %H:%M}  🤖 邻里 → {who}（{message.event}{tag}）：{body}{buttons}\n")
            self.pretty.flush()
