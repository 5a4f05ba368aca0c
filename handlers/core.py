"""The order of decisions for every incoming message — the one entry point of all channels.

1. a duplicate delivery (platform id seen) → ignore;
2. a command (``/accept 3`` or people's words: ``接单 3``) → run it with its permission check;
3. an answer the bot waits for (which building? is it fixed?) → apply it;
4. "怎么报修" in a private chat → the how-to;
5. a reporter's "not fixed" within 72 h of a close → reopen that ticket;
6. a reporter's "什么时候修？" → the status, and a nudge to the assignee;
7. a me-too ("+1", "我们单元也是", a quoted reply to a report) → join that ticket;
8. a place and nothing else ("8号楼") → silence;
9. else intake: classify → silence for ``none``, review for unsure, or open / merge a ticket.

Everything one message changes is written in one transaction, outbox rows included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from handlers import commands, satisfaction, texts
from handlers.answers import read_bare_building
from handlers.conversation import answer_status, join_me_too, reopen_after_close
from handlers.effects import Effects
from handlers.followups import run_followup
from handlers.intake import intake, open_clarified, pending_for, to_review
from handlers.messages import IncomingMessage
from handlers.phrases import is_help_request, is_only_place
from handlers.texts import followup_failed, resolution_options
from intents.model import Classification, IntentSpec
from jobs.sweep import MAX_ERRORS, retry_delay
from storage.community import CommunityRegistry
from storage.db import Database, utc
from storage.models import FollowUp, Pending, SeenMessage, Ticket

log = logging.getLogger(__name__)


class IntentSource(Protocol):
    """What the core needs of the intent engine (``intents.registry.IntentRegistry``)."""

    @property
    def classifier(self): ...  # noqa: ANN201
    @property
    def intents(self): ...  # noqa: ANN201
    @property
    def answers(self): ...  # noqa: ANN201 - the answer reader (intents.answer_reader.AnswerReader)
    def reload(self): ...  # noqa: ANN201


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a message (for logs and tests): ``duplicate``, ``command``, ``answer``, ``status``,
    ``silent``, ``review``, ``clarify``, ``ticket`` or ``unknown_community``."""

    kind: str
    ticket: int | None = None
    #: How many messages this caused (0: nothing to deliver).
    sent: int = 0


class Core:
    """The channel-neutral conversation logic."""

    def __init__(
        self, db: Database, communities: CommunityRegistry, intents: IntentSource,
        locate: Callable[[str], tuple[str | None, str | None, str | None]] | None = None,
    ) -> None:
        self.db, self.communities, self.intents = db, communities, intents
        self._locate = locate

    # -- helpers -------------------------------------------------------------------------------
    def spec_for(self, intent: str) -> IntentSpec | None:
        try:
            spec = self.intents.intents.get(intent)
        except KeyError:
            return None
        return spec if spec is not None and spec.route is not None else None

    def intent_ids(self) -> list[str]:
        """The issue intents' ids (every type a ticket may have)."""
        return list(self.intents.intents.issue_ids)

    def classify(self, text: str) -> Classification:
        return self.intents.classifier.classify(text)

    def locate(self, text: str) -> tuple[str | None, str | None, str | None]:
        if self._locate is not None:
            return self._locate(text)
        from intents.extract import extract_location

        loc = extract_location(text)
        return loc.building, loc.unit, loc.room

    def reload_intents(self) -> tuple[bool, str]:
        result = self.intents.reload()
        return result.ok, result.message

    # -- messages ------------------------------------------------------------------------------
    def handle(self, msg: IncomingMessage) -> Outcome:
        """Handle one message in one transaction; the outbox rows it writes are sent after commit."""
        community = self.communities.get(msg.community)
        if community is None:
            log.warning("message for unknown community %r ignored", msg.community)
            return Outcome("unknown_community")
        try:
            with self.db.session() as session:
                if msg.platform_id is not None:
                    # The primary key rejects a second delivery at flush (IntegrityError below).
                    session.add(SeenMessage(community=community.id, channel=msg.channel, platform_id=msg.platform_id,
                                            at=msg.at))
                    session.flush()
                fx = Effects(session, community, msg.at)
                outcome = self._decide(fx, msg)
                return Outcome(outcome.kind, outcome.ticket, len(fx.sent))
        except IntegrityError:
            # This platform id was handled before (or by another process just now): that delivery counts.
            return Outcome("duplicate")

    def _decide(self, fx: Effects, msg: IncomingMessage) -> Outcome:
        command = commands.parse(msg.text)
        if command is not None:
            ctx = commands.CommandContext(fx, msg, self.spec_for, self.reload_intents, self.locate, self.intent_ids)
            commands.run(ctx, command)
            return Outcome("command")
        answered = self._answer_pending(fx, msg)
        if answered is not None:
            return answered
        if msg.chat == "private" and is_help_request(msg.text):
            fx.send(msg.sender, texts.HELP, "reply", channel=msg.channel)
            return Outcome("command")
        c = self.classify(msg.text)

        def same_topic(intent: str) -> bool:
            return c.intent in (intent, "none") or c.unsure

        if reopen_after_close(fx, msg, self.spec_for, self.read_answer, same_topic, self.locate):
            return Outcome("answer")
        if answer_status(fx, msg, self.spec_for):
            return Outcome("status")
        if join_me_too(fx, msg, self.spec_for, self.locate, same_problem=lambda intent: c.intent == intent):
            return Outcome("ticket")
        if is_only_place(msg.text):
            return Outcome("silent")  # "8号楼" answers no question: it is no report
        return self._intake(fx, msg, c)

    def read_answer(self, text: str, intent: str | None = None) -> str:
        """fixed / not_fixed / unclear: the one answer reader (``intents/answers/answers.yaml``)."""
        return self.intents.answers.read(text, intent).answer

    def _intake(self, fx: Effects, msg: IncomingMessage, classification: Classification | None = None) -> Outcome:
        c = classification or self.classify(msg.text)
        if c.intent == "none":
            return Outcome("silent")
        spec = self.spec_for(c.intent)
        if spec is None:
            return Outcome("silent")
        if c.unsure:
            to_review(fx, msg, c)
            return Outcome("review")
        hint = self.locate(msg.location_hint) if msg.location_hint else None
        intake(fx, msg, c, spec, hint, self.spec_for)
        opened = [row.ticket_id for row in fx.sent if row.event in ("ticket_opened", "duplicate")]
        return Outcome("ticket", opened[0]) if opened else Outcome("clarify")

    def _answer_pending(self, fx: Effects, msg: IncomingMessage) -> Outcome | None:
        clarify = pending_for(fx, msg.sender, "clarify")
        if clarify is not None and clarify.expires_at is not None and utc(clarify.expires_at) > fx.now:
            c = self.classify(msg.text)
            building, unit, room = c.building, c.unit, c.room
            if not building:
                building = read_bare_building(msg.text)
            open_clarified(fx, clarify, building, unit, room, self.spec_for)
            if not building and c.intent != "none" and not c.unsure:
                self._intake(fx, msg, c)  # the "answer" was a new report of its own
            return Outcome("answer")
        rated = satisfaction.take_answer(fx, msg, self.spec_for)
        if rated is not None:
            return Outcome("answer", rated)
        pending = pending_for(fx, msg.sender, "resolution")
        if pending is None or pending.ticket_id is None:
            return None
        ticket = fx.session.get(Ticket, pending.ticket_id)
        if ticket is None or ticket.status != "resolved":
            fx.session.delete(pending)
            return None
        answer = self.read_answer(msg.text, ticket.intent)
        if answer != "unclear":
            commands.apply_answer(fx, ticket, self.spec_for(ticket.intent), msg.sender, answer)
            return Outcome("answer", ticket.id)
        if msg.chat == "private" and not pending.reasked:
            pending.reasked = True
            fx.session.add(pending)
            fx.send(msg.sender, resolution_options(ticket.id), "reply", ticket.id, channel=msg.channel)
            return Outcome("answer", ticket.id)
        return None

    def resolve_review(self, item_id: int, intent: str, actor: str, now: datetime | None = None) -> str | None:
        """An admin's choice for a review item (``linli review --resolve``): the same rule as ``/review N 类型``."""
        from datetime import UTC

        from handlers.intake import resolve_review
        from storage.models import ReviewItem

        with self.db.session() as session:
            item = session.get(ReviewItem, item_id)
            community = self.communities.get(item.community) if item else None
            if item is None or community is None:
                return f"找不到待确认消息 #{item_id}"
            fx = Effects(session, community, now or datetime.now(UTC))
            return resolve_review(fx, item_id, intent, self.spec_for, self.locate, actor)

    # -- follow-ups ----------------------------------------------------------------------------
    def run_followup(self, followup_id: int, now: datetime) -> None:
        """Run one claimed follow-up row and mark it done, in one transaction (an exception rolls
        the whole step back; the caller records it with :meth:`followup_failed`)."""
        with self.db.session() as session:
            row = session.get(FollowUp, followup_id)
            if row is None or row.done_at is not None:
                return
            community = self._community_of(session, row)
            if community is not None:
                run_followup(Effects(session, community, now), row, self.spec_for)
            row.done_at = now
            row.lease_until = None
            session.add(row)

    def followup_failed(self, followup_id: int, now: datetime, error: str) -> bool:
        """Record a failed run of a follow-up: count it, keep the error, try again after a backoff
        from ``now``; the ``MAX_ERRORS``-th failure gives it up and tells the admins. Returns True
        when it was given up."""
        with self.db.session() as session:
            row = session.get(FollowUp, followup_id)
            if row is None or row.done_at is not None:
                return False
            row.errors += 1
            row.last_error = error[:500]
            row.lease_until = None
            given_up = row.errors >= MAX_ERRORS
            if given_up:
                row.done_at = row.failed_at = now
                community = self._community_of(session, row)
                if community is None:
                    log.error("follow-up %s given up; no community to tell", followup_id)
                else:
                    fx = Effects(session, community, now)
                    person = None
                    if row.pending_id is not None:
                        pending = session.get(Pending, row.pending_id)
                        person = community.person_name(pending.person) if pending else None
                    text = followup_failed(row.kind, row.ticket_id, person, row.errors, error)
                    for admin in community.admins:
                        fx.send(admin, text, "followup_failed", row.ticket_id)
            else:
                row.due_at = now + retry_delay(row.errors)
            session.add(row)
        return given_up

    def _community_of(self, session, row: FollowUp):  # noqa: ANN001, ANN202
        community_id = None
        if row.ticket_id is not None:
            ticket = session.get(Ticket, row.ticket_id)
            community_id = ticket.community if ticket else None
        elif row.pending_id is not None:
            pending = session.get(Pending, row.pending_id)
            community_id = pending.community if pending else None
        return self.communities.get(community_id) if community_id else None
