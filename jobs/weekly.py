"""The weekly report's place in the schedule: one follow-up row per community, due Monday 09:00 local time.

The row lives in the database like every follow-up (kind ``weekly_report``); it points at a ``Pending`` row of
kind ``weekly_report`` that names its community. When it runs (``handlers.weekly``) it schedules the next
Monday, so a restart loses nothing and two instances never send it twice (the row is leased).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from storage.community import Community
from storage.db import Database
from storage.models import FollowUp, Pending

KIND = "weekly_report"
AT = time(9, 0)


def next_monday(now: datetime, tz: ZoneInfo) -> datetime:
    """The next Monday 09:00 in ``tz`` strictly after ``now`` (UTC)."""
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=(7 - local.weekday()) % 7)
    due = datetime.combine(day, AT, tzinfo=tz)
    if due <= local:
        due = datetime.combine(day + timedelta(days=7), AT, tzinfo=tz)
    return due.astimezone(UTC)


def ensure_weekly(db: Database, community: Community, now: datetime) -> datetime:
    """Make sure the community's weekly report is scheduled; returns when it is due."""
    with db.session() as s:
        anchor = s.exec(select(Pending).where(Pending.community == community.id, Pending.kind == KIND)).first()
        if anchor is None:
            anchor = Pending(community=community.id, person="", kind=KIND, asked_at=now)
            s.add(anchor)
            s.flush()
        row = s.exec(select(FollowUp).where(FollowUp.pending_id == anchor.id, FollowUp.kind == KIND,
                                            FollowUp.done_at.is_(None))).first()
        if row is None:
            row = FollowUp(pending_id=anchor.id, kind=KIND, due_at=next_monday(now, community.tz))
            s.add(row)
        return row.due_at
