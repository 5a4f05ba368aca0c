"""A resident's message that is not a command or an answer: classify, locate, ticket.

``none`` stays silent; an unsure guess goes to the admins' review list; a report without a
building asks "请问是几号楼？" once and waits for the answer (30 minutes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime

from sqlmodel import select

from handlers import texts
from handlers.effects import Effects
from handlers.messages import IncomingMessage
from handlers.phrases import find_area, public_place
from handlers.tickets import Report, open_or_merge, reply_target, route
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
    msg: IncomingMessage, c: Classification, building: str | None, unit: str | None, room: str | None,
    area: str | None = None,
) -> Report:
    return Report(
        intent=c.intent, confidence=c.confidence, building=building, unit=unit, room=room, urgent=c.urgent,
        text=msg.text, reporter=msg.sender, at=msg.at, chat=msg.chat, channel=msg.channel,
        chat_ref=msg.chat_ref, platform_id=msg.platform_id, name=msg.sender_name, area=area,
    )


def area_of(fx: Effects, text: str) -> str | None:
    """The community area a message names (``areas`` in the community file)."""
    areas = {name: list(a.aliases) for name, a in fx.community.areas.items()}
    return find_area(text, areas) if areas else None


Place = tuple[str | None, str | None, str | None]


def other_problems(
    fx: Effects, c: Classification, spec: IntentSpec, report: Report, spec_for: Callable[[str], IntentSpec | None]
) -> list[tuple[Report, IntentSpec]]:
    """The classifier's ``also`` problems that go to somebody else than the main one (same place, same words)."""
    main_to = route(fx.community, spec, report.building, report.area)
    out = []
    for intent, confidence in c.also:
        other = spec_for(intent)
        if other is None or route(fx.community, other, report.building, report.area) == main_to:
            continue
        out.append((replace(report, intent=intent, confidence=confidence), other))
    return out


def intake(
    fx: Effects, msg: IncomingMessage, c: Classification, spec: IntentSpec, hint: Place | None,
    spec_for: Callable[[str], IntentSpec | None] | None = None,
) -> None:
    """Turn a classified issue into a ticket, or ask where it is. ``hint`` is the building / unit /
    room read from the channel's location hint (a WeChat location label), if any."""
    building, unit, room = c.building, c.unit, c.room
    if not building and hint is not None and hint[0]:
        building, unit, room = hint
    area = area_of(fx, msg.text)
    if not building and area is None:
        public = public_place(msg.text)
        if public is not None:
            # a public place is never the reporter's flat: its own name, routed to the default grid
            open_or_merge(fx, report_from(msg, c, None, None, None, public), spec)
            return
        building, unit, room = home_of(fx, msg.sender)
    if not building and area is None:
        ask_building(fx, msg, c)
        return
    if area is not None and not building:
        unit = room = None
    report = report_from(msg, c, building, unit, room, area)
    others = other_problems(fx, c, spec, report, spec_for) if spec_for is not None else []
    if not others:
        open_or_merge(fx, report, spec)
        return
    # two problems for two people (a dark stairwell for the building head, a broken lift for its handler): one
    # ticket each, linked, and one answer naming both numbers
    opened = [(open_or_merge(fx, report, spec, tell=False), spec)]
    for other_report, other_spec in others:
        opened.append((open_or_merge(fx, other_report, other_spec, tell=False), other_spec))
    ids = [t.id for t, _ in opened]
    for t, _ in opened:
        t.related = ",".join(f"#{i}" for i in ids if i != t.id)
        fx.session.add(t)
    fx.send(text=texts.tickets_opened([(t.id, sp.name, fx.community.person_name(t.assignee)) for t, sp in opened]),
            event="ticket_opened", ticket=ids[0], **reply_target(report))


def ask_building(fx: Effects, msg: IncomingMessage, c: Classification) -> None:
    payload = {"message": json.loads(_message_json(msg)), "classification": asdict(c)}
    pending = Pending(
        community=fx.community.id, person=msg.sender, kind="clarify", payload=json.dumps(payload, ensure_ascii=False),
        asked_at=fx.now, expires_at=fx.now + CLARIFY_WAIT,
    )
    fx.session.add(pending)
    fx.session.flush()
    fx.schedule("clarify_timeout", fx.now + CLARIFY_WAIT, pending_id=pending.id)
    target = reply_target(report_from(msg, c, None, None, None))
    fx.send(text=texts.clarify(), event="clarify", **target)


def _message_json(msg: IncomingMessage) -> str:
    return json.dumps({k: (v.isoformat() if k == "at" else v) for k, v in asdict(msg).items()}, ensure_ascii=False)


def _message_from_json(raw: str) -> IncomingMessage:
    data = json.loads(raw)
    data["at"] = datetime.fromisoformat(data["at"])
    known = set(IncomingMessage.__dataclass_fields__)
    return IncomingMessage(**{k: v for k, v in data.items() if k in known})


def to_review(fx: Effects, msg: IncomingMessage, c: Classification) -> None:
    """An unsure guess waits for an admin; the resident hears that it was received, never silence."""
    fx.session.add(
        ReviewItem(community=fx.community.id, person=msg.sender, text=msg.text, guess=c.intent, confidence=c.confidence,
                   at=fx.now, message=_message_json(msg))
    )
    target = reply_target(report_from(msg, c, None, None, None))
    fx.send(text=texts.review_ack(), event="review", **target)


def pending_reviews(fx: Effects) -> list[ReviewItem]:
    return list(fx.session.exec(
        select(ReviewItem).where(ReviewItem.community == fx.community.id, ReviewItem.resolved.is_(None)).order_by(ReviewItem.id)
    ).all())


def resolve_review(
    fx: Effects, item_id: int, intent: str, spec_for: Callable[[str], IntentSpec | None],
    locate: Callable[[str], Place], actor: str,
) -> str | None:
    """An admin's choice for a review item: ``none`` closes it, an intent opens the ticket as if the message had
    been classified so (located, routed, the resident told). Returns a refusal text, or None when done."""
    item = fx.session.get(ReviewItem, item_id)
    if item is None or item.community != fx.community.id:
        return f"找不到待确认消息 #{item_id}"
    if item.resolved is not None:
        return f"待确认消息 #{item_id} 已处理过（{item.resolved}）"
    spec = spec_for(intent) if intent != "none" else None
    if intent != "none" and spec is None:
        return f"没有这个类型：{intent}"
    item.resolved = intent
    fx.session.add(item)
    if spec is None:
        return None
    if item.message:
        msg = _message_from_json(item.message)
    else:  # an item stored before messages were kept: a private report of its sender
        msg = IncomingMessage(community=fx.community.id, chat="private", sender=item.person, text=item.text, at=item.at)
    building, unit, room = locate(item.text)
    c = Classification(intent=intent, confidence=1.0, building=building, unit=unit, room=room, urgent=False,
                       why=f"review #{item.id} resolved by {actor}")
    intake(fx, msg, c, spec, None, spec_for)
    return None


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
        name=m.get("sender_name"),
    )
    spec = spec_for(report.intent)
    fx.cancel_pending(pending.id)
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
