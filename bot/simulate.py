"""``linli simulate``: replay a chat from JSON lines through the real application with a fake clock."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlmodel import select

from bot.app import LinliApp
from bot.channels.simulated import SimulatedChannel
from bot.clock import ManualClock
from handlers import satisfaction
from handlers.messages import IncomingMessage
from jobs.sweep import next_due
from storage.community import Community
from storage.db import utc
from storage.models import Ticket, TicketReporter


class EventError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    sender: str | None = None
    text: str | None = None
    chat: str = "group"
    id: str | None = None
    name: str | None = None  # the sender's display name on the platform
    reply_to: str | None = None  # the id of the message this one quotes


def parse_event(line: str, community: Community) -> Event:
    """One input line → :class:`Event`; raises :class:`EventError` saying what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise EventError("an event is a JSON object")
    unknown = set(data) - {"at", "from", "text", "chat", "id", "name", "reply_to"}
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "at" not in data:
        raise EventError('"at" is required')
    try:
        at = datetime.fromisoformat(str(data["at"]))
    except ValueError as exc:
        raise EventError(f'"at" is not an ISO time: {data["at"]!r}') from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=community.tz)
    if ("from" in data) != ("text" in data):
        raise EventError('a message needs both "from" and "text"')
    chat = data.get("chat", "group")
    if chat not in ("group", "private"):
        raise EventError(f'"chat" must be "group" or "private", not {chat!r}')
    for key in ("from", "text"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise EventError(f'"{key}" must be a non-empty string')
    msg_id = data.get("id")
    if msg_id is not None and not isinstance(msg_id, str | int):
        raise EventError('"id" must be a string')
    reply_to = data.get("reply_to")
    if reply_to is not None and not isinstance(reply_to, str | int):
        raise EventError('"reply_to" must be the id of an earlier message')
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise EventError('"name" must be a non-empty string')
    return Event(at=at, sender=data.get("from"), text=data.get("text"), chat=chat,
                 id=str(msg_id) if msg_id is not None else None, name=name,
                 reply_to=str(reply_to) if reply_to is not None else None)


class Simulator:
    """Drives a :class:`LinliApp` through events in time order, firing follow-ups in between."""

    def __init__(self, app: LinliApp, community: Community, clock: ManualClock, echo: TextIO | None = None) -> None:
        self.app, self.community, self.clock, self.echo = app, community, clock, echo

    async def advance(self, until: datetime) -> None:
        """Fire every follow-up and deliver every message due up to ``until``, in time order."""
        until = until.astimezone(self.clock.now().tzinfo)
        while True:
            due = next_due(self.app.db, include_outbox=True)
            if due is None or due > until:
                break
            if due > self.clock.now():
                self.clock.set(due)
            ran = self.app.run_due_followups()
            sent = await self.app.deliver_due()
            if not ran and not sent:
                break  # leased elsewhere; nothing more can happen before ``until``
        if until > self.clock.now():
            self.clock.set(until)

    async def play(self, lines: TextIO, errors: TextIO) -> int:
        failures = 0
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                event = parse_event(raw, self.community)
                if utc(event.at) < self.clock.now():
                    raise EventError("events must be in time order")
            except EventError as exc:
                errors.write(f"line {lineno}: {exc}\n")
                failures += 1
                continue
            await self.advance(event.at)
            if event.text is None:
                continue
            if self.echo is not None:
                where = "业主群" if event.chat == "group" else "私聊"
                name = self.community.person_name(event.sender, event.name)
                self.echo.write(f"{event.at.astimezone(self.community.tz):%m-%d %H:%M}  💬 {name}（{where}）：{event.text}\n")
            await self.app.submit(
                IncomingMessage(
                    community=self.community.id, chat=event.chat, sender=event.sender, text=event.text, at=event.at,
                    platform_id=event.id, channel="simulated", chat_ref="group" if event.chat == "group" else None,
                    sender_name=event.name, reply_to=event.reply_to,
                )
            )
        return 1 if failures else 0


def write_tickets(app: LinliApp, community: Community, out: Path) -> None:
    """The final state of every ticket, one JSON line each."""
    tz = community.tz
    with app.db.session() as s, out.open("w", encoding="utf-8") as fh:
        for t in s.exec(select(Ticket).order_by(Ticket.id)).all():
            reporters = s.exec(
                select(TicketReporter.person).where(TicketReporter.ticket_id == t.id).order_by(TicketReporter.id)
            ).all()
            row = {
                "id": t.id, "intent": t.intent, "status": t.status, "building": t.building, "unit": t.unit,
                "room": t.room, "urgent": t.urgent, "assignee": t.assignee, "reporters": list(reporters),
                "reopen_count": t.reopen_count, "escalation_level": t.escalation_level, "area": t.area,
                "nudges": t.nudges,
                "satisfaction": [{"person": r["person"], "answer": r["answer"]} for r in satisfaction.for_ticket(s, t.id)],
                "opened_at": utc(t.opened_at).astimezone(tz).isoformat(),
                "closed_at": utc(t.closed_at).astimezone(tz).isoformat() if t.closed_at else None,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


async def run_simulation(
    app: LinliApp, clock: ManualClock, events: TextIO, out: TextIO | None, pretty: TextIO | None = None,
    errors: TextIO = sys.stderr,
) -> int:
    community = app.communities.all()[0]
    names = {pid: p.name for pid, p in community.people.items()}
    app.add_channel(SimulatedChannel(out, clock, community.tz, names, pretty))
    sim = Simulator(app, community, clock, echo=pretty)
    return await sim.play(events, errors)
