"""The core through its own API, without the simulator: transactions, crashes, duplicates."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

import handlers.tickets
from handlers.core import Core
from handlers.messages import IncomingMessage
from intents.registry import IntentRegistry
from storage.community import CommunityRegistry
from storage.db import Database
from storage.models import FollowUp, Outbox, SeenMessage, Ticket, TicketEvent
from tests.support import COMMUNITY, database_url

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def core(tmp_path):
    db = Database(database_url(tmp_path, "core.db"))
    db.create_all()
    yield Core(db, CommunityRegistry.load([COMMUNITY]), IntentRegistry())
    db.dispose()


def report(text="8号楼2单元楼道灯不亮", pid="tg:1:100", sender="r_sun"):
    return IncomingMessage(community="zhenghong", chat="group", sender=sender, text=text,
                           at=datetime(2026, 3, 2, 9, 0, tzinfo=SH), platform_id=pid, channel="telegram",
                           chat_ref="-100")


def count(core, model):
    with core.db.session() as s:
        return len(s.exec(select(model)).all())


def test_one_message_writes_ticket_log_followups_and_outbox_together(core):
    outcome = core.handle(report())
    assert outcome.kind == "ticket" and outcome.ticket == 1 and outcome.sent == 2
    with core.db.session() as s:
        ticket = s.get(Ticket, 1)
        assert (ticket.status, ticket.assignee, ticket.channel, ticket.chat_ref) == ("open", "bh8", "telegram", "-100")
        events = s.exec(select(TicketEvent)).all()
        assert [(e.kind, e.from_status, e.to_status, e.actor) for e in events] == [("opened", None, "open", "r_sun")]
        assert sorted(f.kind for f in s.exec(select(FollowUp)).all()) == [
            "ack_escalate", "ack_reminder", "resolve_escalate", "resolve_reminder"]
        rows = s.exec(select(Outbox).order_by(Outbox.id)).all()
        assert [(r.recipient, r.event, r.channel, r.chat_ref, r.reply_to) for r in rows] == [
            ("group", "ticket_opened", "telegram", "-100", "tg:1:100"), ("bh8", "dispatched", None, None, None)]


def test_a_crash_mid_message_leaves_nothing_half_done_and_the_redelivery_counts(core, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(handlers.tickets, "dispatch", boom)
    with pytest.raises(RuntimeError):
        core.handle(report())
    assert count(core, Ticket) == count(core, Outbox) == count(core, SeenMessage) == 0
    monkeypatch.undo()
    assert core.handle(report()).kind == "ticket"  # the platform's retry of the same message
    assert count(core, Ticket) == 1


def test_the_same_platform_id_is_handled_once_and_per_channel(core):
    assert core.handle(report()).kind == "ticket"
    assert core.handle(report()).kind == "duplicate"
    other = replace(report(), channel="wechat", text="8号楼2单元楼道灯还是不亮")
    assert core.handle(other).kind == "ticket"  # another platform's id space
    assert count(core, Ticket) == 1  # …and it merged into the open ticket


def test_messages_for_unknown_communities_are_ignored(core):
    assert core.handle(replace(report(), community="elsewhere")).kind == "unknown_community"
    assert count(core, SeenMessage) == 0


def test_unsure_messages_go_to_review_not_to_a_ticket(core, monkeypatch):
    from intents.model import Classification

    unsure = Classification("leak", 0.3, "8", None, None, False, "leak 0.3", unsure=True)
    monkeypatch.setattr(core, "classify", lambda text: unsure)
    assert core.handle(report("8号楼好像哪里有点不对劲")).kind == "review"
    from storage.models import ReviewItem

    with core.db.session() as s:
        items = s.exec(select(ReviewItem)).all()
    assert [(i.guess, i.person) for i in items] == [("leak", "r_sun")]
    assert count(core, Ticket) == 0
    # nobody is left in silence: the resident hears it was received, and nothing else is sent
    with core.db.session() as s:
        assert [(o.recipient, o.event) for o in s.exec(select(Outbox)).all()] == [("group", "review")]


def test_a_location_hint_gives_the_building_when_the_text_has_none(core):
    hinted = replace(report("楼道灯不亮了", sender="wx:o123"), location_hint="正弘悦府5号楼")
    assert core.handle(hinted).kind == "ticket"
    with core.db.session() as s:
        ticket = s.get(Ticket, 1)
    assert (ticket.building, ticket.assignee) == ("5", "bh5")
