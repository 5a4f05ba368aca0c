"""A resident's message that is not a command or an answer: classify, locate, ticket.

``none`` stays silent; an unsure guess goes to the admins' review list; a report without a
building asks "请问是几号楼？" once and waits for the answer (30 minutes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

from sqlmodel import select

from handlers import texts
from handlers.effects import Effects
from handlers.messages import IncomingMessage
from handlers.tickets import Report, open_or_merge, reply_target
from intents.model import Classification, IntentSpec
from jobs.deadlines import CLARIFY_WAIT
from storage.models import Pending, Resident, ReviewItem


def home_of(fx: Effects, person: str) -> tuple[str | None, str | None, str | None]:
    """The sender's registered home: the community file first, then ``绑定`` registrations."""
    known = fx.community.people.get(person)
    if known and known.building:
        return known.building, known.unit, known.room
    row = fx.session.get(Resident, (fx.community.id, person))
    if row and row.building:
        return row.building, row.unit, row.room
    return None, None, None


def report_from(
    msg: IncomingMessage, c: Classification, building: str | None, unit: str | None, room: str | None
) -> Report:
    return Report(
        intent=c.intent, confidence=c.confidence, building=building, unit=unit, room=room, urgent=c.urgent,
        text=msg.text, reporter=msg.sender, at=msg.at, chat=msg.chat, channel=msg.channel,
        chat_ref=msg.chat_ref, platform_id=msg.platform_id,
    )


Place = tuple[str | None, str | None, str | None]


def intake(fx: Effects, msg: IncomingMessage, c: Classification, spec: IntentSpec, hint: Place | None) -> None:
    """Turn a classified issue into a ticket, or ask where it is. ``hint`` is the building / unit /
    room read from the channel's location hint (a WeChat location label), if any."""
    building, unit, room = c.building, c.unit, c.room
    if not building and hint is not None and hint[0]:
        building, unit, room = hint
    if not building:
        building, unit, room = home_of(fx, msg.sender)
    if not building:
        ask_building(fx, msg, c)
        return
    open_or_merge(fx, report_from(msg, c, building, unit, room), spec)


def ask_building(fx: Effects, msg: IncomingMessage, c: Classification) -> None:
    payload = {"message": {k: (v.isoformat() if k == "at" else v) for k, v in asdict(msg).items()}, "classification": asdict(c)}
    pending = Pending(
        community=fx.community.id, person=msg.sender, kind="clarify", payload=json.dumps(payload, ensure_ascii=False),
        asked_at=fx.now, expires_at=fx.now + CLARIFY_WAIT,
    )
    fx.session.add(pending)
    fx.session.flush()
    fx.schedule("clarify_timeout", fx.now + CLARIFY_WAIT, pending_id=pending.id)
    target = reply_target(report_from(msg, c, None, None, None))
    fx.send(text=texts.clarify(), event="clarify", **target)


def to_review(fx: Effects, msg: IncomingMessage, c: Classification) -> None:
    fx.session.add(
        ReviewItem(community=fx.community.id, person=msg.sender, text=msg.text, guess=c.intent, confidence=c.confidence, at=fx.now)
    )


def open_clarified(
    fx: Effects,
    pending: Pending,
    building: str | None,
    unit: str | None,
    room: str | None,
    spec_for: Callable[[str], IntentSpec | None],
) -> None:
    """Open the ticket a clarification was waiting for (building None → default grid)."""
    data = json.loads(pending.payload)
    m, c = data["message"], data["classification"]
    report = Report(
        intent=c["intent"], confidence=c["confidence"], building=building, unit=unit or c.get("unit"),
        room=room or c.get("room"), urgent=c["urgent"], text=m["text"], reporter=m["sender"], at=fx.now,
        chat=m["chat"], channel=m["channel"], chat_ref=m["chat_ref"], platform_id=m["platform_id"],
    )
    spec = spec_for(report.intent)
    fx.session.delete(pending)
    if spec is not None:
        open_or_merge(fx, report, spec)


def pending_for(fx: Effects, person: str, kind: str) -> Pending | None:
    return fx.session.exec(
        select(Pending)
        .where(Pending.community == fx.community.id, Pending.person == person, Pending.kind == kind)
        .order_by(Pending.id.desc())
        .limit(1)
    ).first()
