"""Who is who across platforms: platform accounts linked to community people, invite codes,
and group chats bound to communities. Platform ids are never used as people."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import select

from storage.community import CommunityRegistry
from storage.db import Database, now_utc
from storage.models import ChatBinding, IdentityLink, Invite

PLATFORM_FIELDS = {"telegram": "telegram_id", "wechat": "wechat_openid", "wecom": "wecom_userid"}


class Identities:
    """Links platform accounts to community person ids (community file first, then the database)."""

    def __init__(self, db: Database, communities: CommunityRegistry) -> None:
        self.db = db
        self.communities = communities

    def _from_file(self, community: str, platform: str) -> dict[str, str]:
        found = self.communities.get(community)
        field = PLATFORM_FIELDS.get(platform)
        if not found or not field:
            return {}
        return {
            str(getattr(person, field)): pid
            for pid, person in found.people.items()
            if getattr(person, field) is not None
        }

    def resolve(self, community: str, platform: str, platform_user_id: str) -> str | None:
        """The person id behind a platform account, or None for someone not linked yet."""
        person = self._from_file(community, platform).get(str(platform_user_id))
        if person:
            return person
        with self.db.session() as s:
            link = s.get(IdentityLink, (platform, str(platform_user_id), community))
            return link.person if link else None

    def communities_of(self, platform: str, platform_user_id: str) -> list[tuple[str, str]]:
        """Every (community, person) this account is linked to."""
        found = [
            (c.id, pid)
            for c in self.communities.all()
            for uid, pid in self._from_file(c.id, platform).items()
            if uid == str(platform_user_id)
        ]
        with self.db.session() as s:
            rows = s.exec(
                select(IdentityLink).where(
                    IdentityLink.platform == platform, IdentityLink.platform_user_id == str(platform_user_id)
                )
            ).all()
        found += [(r.community, r.person) for r in rows if (r.community, r.person) not in found]
        return found

    def link(self, community: str, person: str, platform: str, platform_user_id: str) -> None:
        with self.db.session() as s:
            row = s.get(IdentityLink, (platform, str(platform_user_id), community))
            if row is None:
                row = IdentityLink(
                    platform=platform, platform_user_id=str(platform_user_id), community=community,
                    person=person, linked_at=now_utc(),
                )
            row.person = person
            s.add(row)

    def platform_ids(self, community: str, person: str, platform: str) -> list[str]:
        ids = [uid for uid, pid in self._from_file(community, platform).items() if pid == person]
        with self.db.session() as s:
            rows = s.exec(
                select(IdentityLink).where(
                    IdentityLink.platform == platform,
                    IdentityLink.community == community,
                    IdentityLink.person == person,
                )
            ).all()
        ids += [r.platform_user_id for r in rows if r.platform_user_id not in ids]
        return ids

    def create_invite(self, community: str, person: str, now: datetime | None = None) -> str:
        """A fresh single-person code for deep links (``https://t.me/<bot>?start=<code>``)."""
        code = secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")
        with self.db.session() as s:
            s.add(Invite(code=code, community=community, person=person, created_at=now or now_utc()))
        return code

    def redeem_invite(self, code: str, platform: str, platform_user_id: str) -> tuple[str, str] | None:
        """Link the account to the invite's person; None for an unknown code. Codes may be reused by the
        same person (a new phone), the latest link wins."""
        with self.db.session() as s:
            invite = s.get(Invite, code.strip())
            if invite is None:
                return None
            invite.used_at = now_utc()
            s.add(invite)
            community, person = invite.community, invite.person
        self.link(community, person, platform, platform_user_id)
        return community, person


class ChatBindings:
    """Group chats bound to communities: the community file's lists plus ``/bind`` in the database."""

    def __init__(self, db: Database, communities: CommunityRegistry) -> None:
        self.db = db
        self.communities = communities

    def _from_file(self, channel: str) -> dict[str, str]:
        if channel != "telegram":
            return {}
        return {str(g): c.id for c in self.communities.all() if c.telegram for g in c.telegram.groups}

    def community_for(self, channel: str, chat_ref: str) -> str | None:
        found = self._from_file(channel).get(str(chat_ref))
        if found:
            return found
        with self.db.session() as s:
            row = s.get(ChatBinding, (channel, str(chat_ref)))
            return row.community if row else None

    def bind(self, channel: str, chat_ref: str, community: str) -> None:
        with self.db.session() as s:
            row = s.get(ChatBinding, (channel, str(chat_ref))) or ChatBinding(
                channel=channel, chat_ref=str(chat_ref), community=community, bound_at=now_utc()
            )
            row.community = community
            s.add(row)

    def chats_of(self, community: str, channel: str) -> list[str]:
        chats = [ref for ref, cid in self._from_file(channel).items() if cid == community]
        with self.db.session() as s:
            rows = s.exec(
                select(ChatBinding).where(ChatBinding.channel == channel, ChatBinding.community == community)
            ).all()
        return chats + [r.chat_ref for r in rows if r.chat_ref not in chats]
