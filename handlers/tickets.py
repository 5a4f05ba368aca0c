"""Ticket operations with their messages: open, merge, dispatch, escalate, and every transition.

Each operation asks :func:`storage.lifecycle.decide` first, so an illegal or unauthorised
transition is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import select

from handlers import texts
from handlers.effects import Effects
from handlers.messages import GROUP, Button
from intents.model import IntentSpec
from jobs.deadlines import MERGE_WINDOW, deadlines, dispatch_plan, resolution_plan
from storage.community import Community
from storage.db import utc
from storage.lifecycle import Verdict, decide
from storage.models import Pending, Ticket, TicketReporter


@dataclass(frozen=True, slots=True)
class Report:
    """A classified resident report with its resolved location, ready to become a ticket."""

    intent: str
    confidence: float
    building: str | None
    unit: str | None
    room: str | None
    urgent: bool
    text: str
    reporter: str
    at: datetime
    chat: str
    channel: str
    chat_ref: str | None
    platform_id: str | None
    name: str | None = None  # the reporter's display name on the platform
    area: str | None = None  # a public place of the community file (地下车库), instead of a building


def staff_buttons(tid: int) -> tuple[Button, ...]:
    return (Button("接单", f"/accept {tid}"), Button("已处理", f"/done {tid}"), Button("转派", f"/transfer {tid}"))


def resident_buttons(tid: int) -> tuple[Button, ...]:
    return (Button("已解决", f"/fixed {tid}"), Button("未解决", f"/notfixed {tid}"))


def route(community: Community, spec: IntentSpec, building: str | None, area: str | None = None) -> str:
    """The first assignee: for a public area the worker of its grid; else the building head when the intent
    says so and the building has one, else the grid worker of the building's grid (the default grid for
    unknown buildings)."""
    area_grid = community.area_grid(area)
    if area_grid is not None:
        return community.grid_worker(area_grid)
    if spec.route == "building_head":
        head = community.building_head(building)
        if head:
            return head
    return community.grid_worker(community.grid_of(building))


def next_level(community: Community, ticket: Ticket) -> str | None:
    """Escalation: building head → grid worker of the building's grid → community admins → none."""
    role = community.role_of(ticket.assignee)
    if role == "building_head":
        return community.grid_worker(community.grid_of(ticket.building))
    if role == "grid_worker":
        return community.admins[0]
    return None


def reply_target(report: Report) -> dict:
    """Where the reporter's direct reply goes: back into the group (as a reply) or privately."""
    if report.chat == "group":
        return {"to": GROUP, "channel": report.channel, "chat_ref": report.chat_ref, "reply_to": report.platform_id}
    return {"to": report.reporter, "channel": report.channel}


def find_mergeable(fx: Effects, intent: str, building: str | None, area: str | None = None) -> Ticket | None:
    """An unclosed ticket of the same intent in the same building (or public area) opened in the last 24 h."""
    if not building and not area:
        return None
    place = Ticket.building == building if building else Ticket.area == area
    return fx.session.exec(
        select(Ticket)
        .where(
            Ticket.community == fx.community.id,
            Ticket.intent == intent,
            place,
            Ticket.status != "closed",
            Ticket.opened_at >= fx.now - MERGE_WINDOW,
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    ).first()


def add_reporter(fx: Effects, ticket: Ticket, report: Report) -> None:
    exists = fx.session.exec(
        select(TicketReporter).where(TicketReporter.ticket_id == ticket.id, TicketReporter.person == report.reporter)
    ).first()
    if exists is None:
        fx.session.add(
            TicketReporter(
                ticket_id=ticket.id, person=report.reporter, text=report.text, at=fx.now, chat=report.chat,
                channel=report.channel, chat_ref=report.chat_ref, platform_id=report.platform_id, name=report.name,
            )
        )


def open_or_merge(fx: Effects, report: Report, spec: IntentSpec, *, tell: bool = True) -> Ticket:
    """Join an open ticket of the same problem, or open and dispatch a new one. ``tell=False`` leaves the
    resident's acknowledgement to the caller (a message with two problems gets one answer naming both)."""
    existing = find_mergeable(fx, report.intent, report.building, report.area)
    if existing is not None:
        add_reporter(fx, existing, report)
        fx.log(existing, report.reporter, "reporter_added", existing.status, report.text)
        if tell:
            fx.send(text=texts.duplicate(existing.id, spec.name), event="duplicate", ticket=existing.id, **reply_target(report))
        return existing
    assignee, immediate = route(fx.community, spec, report.building, report.area), False
    on_duty = [p for p in fx.community.on_duty if p in fx.community.people]
    if not report.urgent and spec.night == "on_duty" and on_duty and fx.staff_time(False) > fx.now:
        assignee, immediate = on_duty[0], True  # 夜间值班 takes it now instead of the morning
    ticket = Ticket(
        community=fx.community.id, intent=report.intent, status="open", building=report.building,
        unit=report.unit, room=report.room, urgent=report.urgent, text=report.text, reporter=report.reporter,
        assignee=assignee, confidence=report.confidence, opened_at=fx.now, dispatched_at=fx.now,
        channel=report.channel, chat_ref=report.chat_ref, area=report.area,
    )
    fx.session.add(ticket)
    fx.session.flush()
    add_reporter(fx, ticket, report)
    fx.log(ticket, report.reporter, "opened", None, f"{report.intent} ({report.confidence:.2f})")
    alerted = report.urgent and urgent_watcher(fx, ticket) != assignee
    if tell:
        held = None if immediate or report.urgent else fx.staff_time(False)
        fx.send(
            text=texts.ticket_opened(
                ticket.id, spec.name, fx.community.person_name(assignee), report.urgent, alerted,
                texts.clock(held, fx.community.tz) if held is not None and held > fx.now else None,
            ),
            event="ticket_opened", ticket=ticket.id, **reply_target(report),
        )
    dispatch(fx, ticket, spec, assignee, "dispatched", "新工单", immediate=immediate)
    if alerted:
        alert_grid_worker(fx, ticket, spec)
    if report.urgent and spec.advice:
        fx.send(text=texts.advice(spec.advice, fx.community.emergency_numbers()), event="advice", ticket=ticket.id,
                **reply_target(report))
    return ticket


def urgent_watcher(fx: Effects, ticket: Ticket) -> str:
    """Who is told of an urgent ticket besides its assignee: the grid worker of its place."""
    return fx.community.grid_worker(fx.community.area_grid(ticket.area) or fx.community.grid_of(ticket.building))


def alert_grid_worker(fx: Effects, ticket: Ticket, spec: IntentSpec) -> bool:
    """Tell the grid worker of an urgent ticket at once; False when the worker is the assignee (nobody else told)."""
    worker = urgent_watcher(fx, ticket)
    if worker == ticket.assignee:
        return False
    fx.send(
        worker,
        texts.urgent_alert(
            ticket.id, spec.name, where(ticket), fx.community.person_name(ticket.assignee), ticket.text,
        ),
        "dispatched", ticket.id, deferred=True, urgent=True,
    )
    return True


def where(ticket: Ticket) -> str:
    """The ticket's place as people say it: 3号楼2单元1201, or the public area."""
    if ticket.area and not ticket.building:
        return ticket.area
    return texts.place(ticket.building, ticket.unit, ticket.room)


def reporter_name(fx: Effects, ticket_id: int | None, person: str) -> str:
    """A reporter's name: the community file's, else the platform display name they reported with, else 居民."""
    if person in fx.community.people or ticket_id is None:
        return fx.community.person_name(person)
    row = fx.session.exec(
        select(TicketReporter.name).where(TicketReporter.ticket_id == ticket_id, TicketReporter.person == person)
    ).first()
    return fx.community.person_name(person, row)


def recipients_of(community: Community, assignee: str) -> list[str]:
    """An admin-level assignment goes to every admin; anything else to the assignee."""
    return list(community.admins) if community.is_admin(assignee) else [assignee]


def dispatch(
    fx: Effects, ticket: Ticket, spec: IntentSpec, assignee: str, event: str, headline: str, *, immediate: bool = False
) -> None:
    """Give the ticket to ``assignee``: message them and restart the deadlines from now (or from the
    end of quiet hours for a non-urgent ticket, unless ``immediate``: the night duty). A card still waiting
    for quiet hours to end for somebody else is withdrawn."""
    ticket.assignee = assignee
    at = fx.now if immediate else fx.staff_time(ticket.urgent)
    fx.retract(ticket.id)
    ticket.dispatched_at = at
    fx.cancel(ticket.id)
    assert spec.ack is not None and spec.resolve is not None
    defer = lambda t: fx.staff_time(ticket.urgent, t)  # noqa: E731
    for step in dispatch_plan(at, spec.ack, spec.resolve, ticket.urgent, defer):
        if ticket.status == "accepted" and step.kind.startswith("ack_"):
            continue
        fx.schedule(step.kind, step.due_at, ticket_id=ticket.id)
    _, resolve = deadlines(spec.ack, spec.resolve, ticket.urgent)
    reporter = reporter_name(fx, ticket.id, ticket.reporter)
    card = texts.staff_card(
        ticket.id, spec.name, where(ticket), reporter, ticket.text,
        texts.local(at + resolve, fx.community.tz), ticket.urgent, headline,
    )
    for person in recipients_of(fx.community, assignee):
        fx.send(person, card, event, ticket.id, deferred=not immediate, urgent=ticket.urgent,
                buttons=staff_buttons(ticket.id))
    fx.session.add(ticket)


def escalate(fx: Effects, ticket: Ticket, spec: IntentSpec, why: str) -> bool:
    """Move the ticket one level up; False when it is already with the admins."""
    target = next_level(fx.community, ticket)
    if target is None:
        return False
    previous = ticket.assignee
    ticket.escalation_level += 1
    fx.log(ticket, "system", "escalated", ticket.status, f"{why} → {target}")
    dispatch(fx, ticket, spec, target, "escalated", f"【升级】{why}，现由您处理")
    for person in recipients_of(fx.community, previous):
        if person not in recipients_of(fx.community, target):
            fx.send(person, texts.escalated_away(ticket.id, spec.name, why, fx.community.person_name(target)),
                    "escalated", ticket.id, deferred=True, urgent=ticket.urgent)
    return True


def roles(community: Community, ticket: Ticket, person: str, reporters: set[str]) -> set[str]:
    found: set[str] = set()
    if person == ticket.assignee or (community.is_admin(person) and community.is_admin(ticket.assignee)):
        found.add("assignee")
    if community.is_admin(person):
        found.add("admin")
    if person in reporters:
        found.add("reporter")
    return found


def reporters_of(fx: Effects, ticket: Ticket) -> list[TicketReporter]:
    return list(fx.session.exec(select(TicketReporter).where(TicketReporter.ticket_id == ticket.id)).all())


def check(fx: Effects, ticket: Ticket, action: str, person: str) -> Verdict:
    reporters = {r.person for r in reporters_of(fx, ticket)}
    return decide(action, ticket.status, roles(fx.community, ticket, person, reporters))


def clear_questions(fx: Effects, ticket: Ticket) -> None:
    fx.session.execute(delete(Pending).where(Pending.ticket_id == ticket.id, Pending.kind == "resolution"))


def mark_done(fx: Effects, ticket: Ticket, spec: IntentSpec, actor: str, note: str) -> None:
    """Staff says done: ask every reporter at once, and again 24 h and 72 h later."""
    before = ticket.status
    ticket.status, ticket.resolved_at = "resolved", fx.now
    fx.log(ticket, actor, "done", before, note)
    fx.cancel(ticket.id)
    fx.retract(ticket.id)
    ask_reporters(fx, ticket, spec, note, again=False)
    for step in resolution_plan(fx.now, lambda t: fx.staff_time(ticket.urgent, t)):
        fx.schedule(step.kind, step.due_at, ticket_id=ticket.id)
    fx.session.add(ticket)


def ask_reporters(fx: Effects, ticket: Ticket, spec: IntentSpec, note: str, again: bool) -> None:
    clear_questions(fx, ticket)
    for rep in reporters_of(fx, ticket):
        fx.session.add(
            Pending(community=fx.community.id, person=rep.person, kind="resolution", ticket_id=ticket.id, asked_at=fx.now)
        )
        fx.send(
            rep.person, texts.resolution_check(ticket.id, spec.name, note, again), "resolution_check", ticket.id,
            deferred=True, urgent=ticket.urgent, channel=rep.channel, buttons=resident_buttons(ticket.id),
        )


def close(fx: Effects, ticket: Ticket, spec: IntentSpec, actor: str, why: str, by_resident: bool) -> None:
    before = ticket.status
    ticket.status, ticket.closed_at = "closed", fx.now
    fx.log(ticket, actor, "confirmed_fixed" if by_resident else "closed", before, why)
    fx.cancel(ticket.id)
    fx.retract(ticket.id)
    clear_questions(fx, ticket)
    notice = texts.closed_notice(ticket.id, spec.name, why)
    for rep in reporters_of(fx, ticket):  # every reporter hears the outcome
        if rep.person == actor:
            fx.send(actor, texts.closed_by_resident(ticket.id), "closed", ticket.id, channel=rep.channel)
        else:
            fx.send(rep.person, notice, "closed", ticket.id, deferred=True, channel=rep.channel)
    if ticket.assignee != actor:
        fx.send(ticket.assignee, notice, "closed", ticket.id, deferred=True, urgent=ticket.urgent)
    fx.session.add(ticket)
    if by_resident:  # 评: the reporter who confirmed is asked once how satisfied they are
        from handlers import satisfaction

        channel = next((rep.channel for rep in reporters_of(fx, ticket) if rep.person == actor), None)
        satisfaction.ask(fx, ticket, actor, channel)


def reopen(fx: Effects, ticket: Ticket, spec: IntentSpec, actor: str, why: str) -> None:
    """Back to ``open`` with the same assignee; deadlines restart; the assignee is told."""
    before = ticket.status
    ticket.status, ticket.reopen_count = "open", ticket.reopen_count + 1
    ticket.resolved_at = ticket.closed_at = ticket.accepted_at = None
    fx.log(ticket, actor, "reopened", before, why)
    clear_questions(fx, ticket)
    headline = texts.reopened_headline(reporter_name(fx, ticket.id, actor), ticket.reopen_count)
    dispatch(fx, ticket, spec, ticket.assignee, "reopened", headline)
    for rep in reporters_of(fx, ticket):  # the reporters are told, the one who said it at once
        text = texts.reopened_resident(ticket.id) if rep.person == actor else texts.reopened_other(ticket.id, spec.name)
        fx.send(rep.person, text, "reopened", ticket.id, deferred=rep.person != actor, channel=rep.channel)


def opened_at_local(ticket: Ticket, community: Community) -> str:
    return texts.local(utc(ticket.opened_at), community.tz)
