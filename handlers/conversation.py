"""The group-chat rules around an open ticket: me-too, "when will it be fixed?", "not fixed" after a close.

Each function returns True when it handled the message (the core then stops), False to let the next rule
look at it. They write through :class:`handlers.effects.Effects` like every handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import select

from handlers import texts
from handlers.effects import Effects
from handlers.messages import IncomingMessage
from handlers.phrases import is_status_question, me_too_place
from handlers.tickets import Report, add_reporter, open_or_merge, recipients_of, reopen, reply_target, where
from intents.model import IntentSpec
from jobs.deadlines import deadlines
from storage.db import utc
from storage.models import Ticket, TicketEvent, TicketReporter

#: A me-too joins a ticket opened from the same group chat this recently.
ME_TOO_WINDOW = timedelta(hours=2)
#: A reporter's "not fixed" this long after a close reopens the same ticket.
REOPEN_WINDOW = timedelta(hours=72)
#: A reporter's status question nudges the assignee at most this often (the reporter always gets the status).
NUDGE_GAP = timedelta(minutes=30)

SpecFor = Callable[[str], IntentSpec | None]
Locate = Callable[[str], tuple[str | None, str | None, str | None]]


def _report(msg: IncomingMessage, ticket: Ticket, building: str | None, unit: str | None, room: str | None) -> Report:
    return Report(
        intent=ticket.intent, confidence=ticket.confidence, building=building, unit=unit, room=room,
        urgent=ticket.urgent, text=msg.text, reporter=msg.sender, at=msg.at, chat=msg.chat, channel=msg.channel,
        chat_ref=msg.chat_ref, platform_id=msg.platform_id, name=msg.sender_name,
        area=ticket.area if building is None else None,
    )


def quoted_ticket(fx: Effects, msg: IncomingMessage) -> Ticket | None:
    """The unclosed ticket whose report ``msg`` quotes (a reply to it in the group), within the me-too window."""
    if not msg.reply_to:
        return None
    return fx.session.exec(
        select(Ticket)
        .join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(Ticket.community == fx.community.id, TicketReporter.platform_id == msg.reply_to,
               Ticket.status != "closed", Ticket.opened_at >= fx.now - ME_TOO_WINDOW)
        .order_by(Ticket.id.desc())
        .limit(1)
    ).first()


def recent_group_ticket(fx: Effects, msg: IncomingMessage) -> Ticket | None:
    """The most recent unclosed ticket opened from this group chat in the me-too window."""
    return fx.session.exec(
        select(Ticket)
        .where(Ticket.community == fx.community.id, Ticket.channel == msg.channel, Ticket.chat_ref == msg.chat_ref,
               Ticket.status != "closed", Ticket.opened_at >= fx.now - ME_TOO_WINDOW)
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
        .limit(1)
    ).first()


_ALSO_RE = re.compile(r"也|同样|一样|同上|\+1")


def join_me_too(
    fx: Effects, msg: IncomingMessage, spec_for: SpecFor, locate: Locate, same_problem: Callable[[str], bool]
) -> bool:
    """"+1" / "同上" / "我们单元也是" (or a quoted reply to a report that says the same: "也", or a message about
    the same kind of problem — the quote supplies the topic): the sender joins the ticket as a reporter; naming
    another building opens a ticket of the same type there."""
    if msg.chat != "group" or fx.community.is_staff(msg.sender):
        return False
    me_too, _rest = me_too_place(msg.text)
    quoted = quoted_ticket(fx, msg)
    if quoted is not None and (me_too or _ALSO_RE.search(msg.text) or same_problem(quoted.intent)):
        ticket = quoted
    elif me_too:
        ticket = recent_group_ticket(fx, msg)
    else:
        return False
    if ticket is None:
        return False
    spec = spec_for(ticket.intent)
    if spec is None:
        return False
    building, unit, room = locate(msg.text)
    if building and building != ticket.building:
        open_or_merge(fx, _report(msg, ticket, building, unit, room), spec)
        return True
    add_reporter(fx, ticket, _report(msg, ticket, ticket.building, ticket.unit, ticket.room))
    fx.log(ticket, msg.sender, "reporter_added", ticket.status, msg.text)
    fx.send(msg.sender, texts.me_too(ticket.id, spec.name), "duplicate", ticket.id, channel=msg.channel)
    return True


def open_ticket_of(fx: Effects, person: str) -> Ticket | None:
    """The most recent unclosed ticket ``person`` reported."""
    return fx.session.exec(
        select(Ticket)
        .join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(Ticket.community == fx.community.id, TicketReporter.person == person, Ticket.status != "closed")
        .order_by(Ticket.id.desc())
        .limit(1)
    ).first()


def answer_status(fx: Effects, msg: IncomingMessage, spec_for: SpecFor) -> bool:
    """A reporter asks "什么时候修？": the status to them, and a nudge (催办) to the assignee."""
    if not is_status_question(msg.text):
        return False
    ticket = open_ticket_of(fx, msg.sender)
    if ticket is None:
        return False
    spec = spec_for(ticket.intent)
    if spec is None or spec.ack is None or spec.resolve is None:
        return False
    last = fx.session.exec(
        select(TicketEvent.at).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "nudged")
        .order_by(TicketEvent.id.desc()).limit(1)
    ).first()
    nudged = last is None or utc(last) <= fx.now - NUDGE_GAP
    if nudged:
        ticket.nudges += 1
        fx.log(ticket, msg.sender, "nudged", ticket.status, msg.text)
        from handlers.tickets import reporter_name

        who = reporter_name(fx, ticket.id, msg.sender)
        for person in recipients_of(fx.community, ticket.assignee):
            fx.send(person, texts.nudge(ticket.id, spec.name, where(ticket), who, ticket.nudges), "nudge", ticket.id,
                    deferred=True, urgent=ticket.urgent)
        fx.session.add(ticket)
    _, resolve = deadlines(spec.ack, spec.resolve, ticket.urgent)
    tz = fx.community.tz
    text = texts.status(
        ticket.id, spec.name, texts.STATUS_NAMES[ticket.status], fx.community.person_name(ticket.assignee),
        texts.local(utc(ticket.dispatched_at), tz), texts.local(utc(ticket.dispatched_at) + resolve, tz), nudged,
    )
    target = reply_target(_report(msg, ticket, None, None, None))
    fx.send(text=text, event="status", ticket=ticket.id, **target)
    return True


def reopen_after_close(fx: Effects, msg: IncomingMessage, spec_for: SpecFor, read: Callable[[str, str], str],
                       same_topic: Callable[[str], bool], locate: Locate) -> bool:
    """A reporter of a ticket closed in the last 72 h says it is not fixed: reopen that ticket (never a new one)."""
    ticket = fx.session.exec(
        select(Ticket)
        .join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(Ticket.community == fx.community.id, TicketReporter.person == msg.sender, Ticket.status == "closed",
               Ticket.closed_at >= fx.now - REOPEN_WINDOW)
        .order_by(Ticket.closed_at.desc())
        .limit(1)
    ).first()
    if ticket is None or read(msg.text, ticket.intent) != "not_fixed" or not same_topic(ticket.intent):
        return False
    building, _unit, _room = locate(msg.text)
    if building and ticket.building and building != ticket.building:
        return False  # "8号楼电梯又坏了" is a new report, not the closed ticket of building 3
    spec = spec_for(ticket.intent)
    if spec is None:
        return False
    reopen(fx, ticket, spec, msg.sender, f"居民反馈未解决：{msg.text}")
    return True
