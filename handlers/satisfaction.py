"""评: after a reporter confirms a fix, ask once how satisfied they are, and read the answer.

The hooks are small: :func:`handlers.tickets.close` calls :func:`ask` when a reporter confirmed, the core
offers each message to :func:`take_answer` before the other pending answers, and ``/rate N 1`` (the
buttons) runs :func:`cmd_rate`. A "不满意" tells the grid worker of the ticket's place and every admin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import select

from handlers.effects import Effects
from handlers.messages import Button, IncomingMessage
from intents.model import IntentSpec
from intents.normalize import normalize
from storage.console import Satisfaction
from storage.db import utc
from storage.models import Ticket

SpecFor = Callable[[str], IntentSpec | None]

#: The question waits this long for its answer; later messages are read as usual.
ANSWER_WINDOW = timedelta(hours=24)

ANSWERS = ("satisfied", "basic", "unsatisfied")
LABELS = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}

QUESTION = "对这次处理满意吗？回复 1 满意 / 2 基本满意 / 3 不满意"

# whole answers only ("3号楼又漏水了" is no rating): a number or a word, with polite filler around it
_FILL = r"(?:[,.!~。，！、\s]|谢谢|谢了|多谢|感谢|哈|啊|吧|了|的|呢|吧|嗯|哦|还行吧)*"
_PATTERNS = [
    ("unsatisfied", r"(3|三|不满意|很不满意|非常不满意|不太满意|差评|很差|太差|差|不行|不好)"),
    ("basic", r"(2|二|基本满意|还算满意|比较满意|一般|一般般|还行|还可以|凑合|马马虎虎)"),
    ("satisfied", r"(1|一|满意|很满意|非常满意|挺满意|十分满意|好评|五星|点赞|棒|很好|不错|挺好|👍)"),
]
_READERS = [(answer, re.compile(rf"^{_FILL}{pattern}{_FILL}$")) for answer, pattern in _PATTERNS]


def read(text: str) -> str | None:
    """``satisfied`` / ``basic`` / ``unsatisfied`` for a whole answer (Traditional characters too), else None."""
    said = normalize(text)
    for answer, pattern in _READERS:
        if pattern.match(said):
            return answer
    return None


def buttons(tid: int) -> tuple[Button, ...]:
    return (Button("满意", f"/rate {tid} 1"), Button("基本满意", f"/rate {tid} 2"), Button("不满意", f"/rate {tid} 3"))


def ask(fx: Effects, ticket: Ticket, person: str, channel: str | None) -> None:
    """Ask ``person`` once for this ticket (never again, even after a reopen and a second close)."""
    if fx.session.exec(
        select(Satisfaction.id).where(Satisfaction.ticket_id == ticket.id, Satisfaction.person == person)
    ).first() is not None:
        return
    fx.session.add(Satisfaction(community=fx.community.id, ticket_id=ticket.id, person=person, asked_at=fx.now))
    fx.send(person, f"工单 #{ticket.id}：{QUESTION}", "satisfaction", ticket.id, channel=channel,
            buttons=buttons(ticket.id))


def _waiting(fx: Effects, person: str, ticket_id: int | None = None) -> Satisfaction | None:
    query = select(Satisfaction).where(
        Satisfaction.community == fx.community.id, Satisfaction.person == person, Satisfaction.answer.is_(None),
        Satisfaction.asked_at >= fx.now - ANSWER_WINDOW,
    )
    if ticket_id is not None:
        query = query.where(Satisfaction.ticket_id == ticket_id)
    return fx.session.exec(query.order_by(Satisfaction.id.desc()).limit(1)).first()


def take_answer(fx: Effects, msg: IncomingMessage, spec_for: SpecFor) -> int | None:
    """The reporter's answer to the waiting question (the ticket id); None (nothing done) when no question
    waits or the text is no rating."""
    row = _waiting(fx, msg.sender)
    if row is None:
        return None
    answer = read(msg.text)
    if answer is None:
        return None
    record(fx, row, answer, msg.text, msg.channel, spec_for)
    return row.ticket_id


def record(fx: Effects, row: Satisfaction, answer: str, text: str, channel: str | None, spec_for: SpecFor) -> None:
    row.answer, row.text, row.answered_at = answer, text, fx.now
    fx.session.add(row)
    ticket = fx.session.get(Ticket, row.ticket_id)
    fx.log(ticket, row.person, "rated", ticket.status, LABELS[answer])
    fx.send(row.person, "感谢您的评价！" + ("我们会尽快跟进改进。" if answer == "unsatisfied" else ""), "reply",
            ticket.id, channel=channel)
    if answer == "unsatisfied":
        spec = spec_for(ticket.intent)
        _tell_unsatisfied(fx, ticket, row, spec.name if spec else ticket.intent)


def _tell_unsatisfied(fx: Effects, ticket: Ticket, row: Satisfaction, intent_name: str) -> None:
    from handlers.tickets import reporter_name, urgent_watcher, where

    community = fx.community
    who = reporter_name(fx, ticket.id, row.person)
    text = (f"【不满意】{who}对工单 #{ticket.id}（{intent_name}，{where(ticket)}，处理人 "
            f"{community.person_name(ticket.assignee)}）的处理不满意，原话：「{row.text}」。请回访。")
    for person in dict.fromkeys([urgent_watcher(fx, ticket), *community.admins]):
        fx.send(person, text, "unsatisfied", ticket.id, deferred=True)


def cmd_rate(ctx, args: str) -> None:
    """``/rate N 1|2|3`` — the buttons of the satisfaction question."""
    m = re.match(r"^#?(\d+)\s+(.+)$", args.strip())
    answer = read(m.group(2)) if m else None
    if m is None or answer is None:
        ctx.refuse("用法：/rate 工单号 1（满意）/ 2（基本满意）/ 3（不满意）")
        return
    row = _waiting(ctx.fx, ctx.msg.sender, int(m.group(1)))
    if row is None:
        ctx.refuse(f"工单 #{m.group(1)} 没有等待您的评价")
        return
    record(ctx.fx, row, answer, m.group(2), ctx.msg.channel, ctx.spec_for)


def for_ticket(session, ticket_id: int) -> list[dict]:
    """The answers to one ticket, for ``--tickets`` and the console: [{"person", "answer", "at"}]."""
    rows = session.exec(
        select(Satisfaction).where(Satisfaction.ticket_id == ticket_id, Satisfaction.answer.is_not(None))
        .order_by(Satisfaction.id)
    ).all()
    return [{"person": r.person, "answer": r.answer, "at": utc(r.answered_at)} for r in rows]
