"""The database is the schedule: leases keep two processes off the same row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.sweep import LEASE, claim_due, next_due
from storage.db import Database
from storage.models import FollowUp
from tests.support import database_url

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def make_db(tmp_path, due_minutes):
    db = Database(database_url(tmp_path, "sweep.db"))
    db.create_all()
    with db.session() as s:
        for m in due_minutes:
            s.add(FollowUp(kind="ack_reminder", due_at=T0 + timedelta(minutes=m)))
    return db


def test_only_due_rows_are_claimed_in_due_order(tmp_path):
    db = make_db(tmp_path, [5, -10, 60, 0])
    claimed = claim_due(db, T0, "a")
    with db.session() as s:
        due = [s.get(FollowUp, i).due_at for i in claimed]
    assert len(claimed) == 2 and due == sorted(due)
    assert next_due(db) == T0 - timedelta(minutes=10)


def test_two_instances_never_claim_the_same_row_until_the_lease_expires(tmp_path):
    db = make_db(tmp_path, [0, 0, 0])
    first = claim_due(db, T0, "a")
    second = claim_due(db, T0, "b")
    assert len(first) == 3 and second == []
    # Instance a died without finishing: after the lease the rows run again elsewhere.
    assert sorted(claim_due(db, T0 + LEASE + timedelta(seconds=1), "b")) == sorted(first)


def test_done_rows_are_never_claimed(tmp_path):
    db = make_db(tmp_path, [0])
    with db.session() as s:
        row = s.get(FollowUp, 1)
        row.done_at = T0
        s.add(row)
    assert claim_due(db, T0, "a") == []
