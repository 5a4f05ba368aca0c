"""Claim due follow-up rows with a lease and run them. The database is the schedule.

Claiming reads the ``(done_at, due_at)`` index for rows due now, so a sweep costs in proportion
to the rows due, not to all open tickets. A lease (compare-and-set on ``lease_until``, plus
``FOR UPDATE SKIP LOCKED`` where the database has it) keeps two processes off the same row; a
process that dies mid-row leaves a lease that expires, and the row runs again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import select

from storage.db import Database, utc
from storage.models import FollowUp

LEASE = timedelta(minutes=2)
#: Rows claimed per round; a full round means more may be due.
BATCH = 200
#: A follow-up that fails is tried again after 1, 2, 4, 8... minutes (at most an hour), counted
#: from the failure; the ``MAX_ERRORS``-th failure gives it up and the admins are told.
MAX_ERRORS = 5
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


def retry_delay(errors: int) -> timedelta:
    """How long a follow-up that has failed ``errors`` times waits before its next try."""
    return min(RETRY_FIRST * 2 ** min(max(errors - 1, 0), 16), RETRY_MAX)


def claim_due(db: Database, now: datetime, owner: str, limit: int = BATCH) -> list[int]:
    """Lease up to ``limit`` due follow-ups to ``owner``; returns their ids in due order."""
    free = or_(FollowUp.lease_until.is_(None), FollowUp.lease_until < now)
    with db.session() as s:
        query = (
            select(FollowUp.id)
            .where(FollowUp.done_at.is_(None), FollowUp.due_at <= now, free)
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(limit)
        )
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        ids = list(s.exec(query).all())
        claimed = []
        for fid in ids:
            result = s.execute(
                update(FollowUp)
                .where(FollowUp.id == fid, FollowUp.done_at.is_(None), free)
                .values(lease_until=now + LEASE, lease_owner=owner, attempts=FollowUp.attempts + 1)
            )
            if result.rowcount == 1:
                claimed.append(fid)
    return claimed


def _next_due_query():
    from storage.models import Outbox

    return select(
        select(func.min(FollowUp.due_at)).where(FollowUp.done_at.is_(None)).scalar_subquery(),
        select(func.min(Outbox.not_before))
        .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
        .scalar_subquery(),
    )


#: Built once: constructing SQL expressions costs more than running this indexed query.
_NEXT_DUE = _next_due_query()


def next_due(db: Database, include_outbox: bool = False) -> datetime | None:
    """The earliest pending follow-up time, or also undelivered message time (the simulator jumps
    its clock there)."""
    with db.session() as s:
        followup, outbox = (utc(t) for t in s.execute(_NEXT_DUE).one())
    found = [t for t in (followup, outbox if include_outbox else None) if t is not None]
    return min(found) if found else None
