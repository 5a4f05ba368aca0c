"""``LinliApp``: builds everything from settings and owns the lifecycle.

It wires the community files, the intent registry, the database, the core handlers, the outbox
deliverer, the channels, and the APScheduler tick that sweeps follow-ups and the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channels.base import Channel
from bot.clock import Clock, SystemClock
from bot.config import Settings
from console.auth import public_base
from handlers.core import Core, Outcome
from handlers.effects import Effects
from handlers.messages import IncomingMessage
from intents.registry import IntentRegistry
from jobs.delivery import Deliverer
from jobs.sweep import BATCH, MAX_ERRORS, claim_due
from storage.community import CommunityRegistry
from storage.db import Database
from storage.identities import ChatBindings, Identities

log = logging.getLogger(__name__)


class LinliApp:
    """One running Linli: communities, intents, database, channels and the follow-up tick."""

    def __init__(
        self,
        settings: Settings,
        communities: CommunityRegistry,
        intents: IntentRegistry,
        db: Database,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.communities = communities
        self.intents = intents
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.core = Core(db, communities, intents)
        self.identities = Identities(db, communities)
        self.bindings = ChatBindings(db, communities)
        self.channels: list[Channel] = []
        self.deliverer = Deliverer(db, self.channels, self._admins_of, clock=lambda: self.clock.now())
        self.instance = settings.instance or f"{socket.gethostname()}:{os.getpid()}"
        self._scheduler: AsyncIOScheduler | None = None
        self._web = None
        self._tick_lock = asyncio.Lock()

    @classmethod
    def build(
        cls,
        settings: Settings,
        community_paths: Sequence[Path | str],
        intents_dir: Path | str | None = None,
        clock: Clock | None = None,
    ) -> LinliApp:
        """Load and validate everything (raising on bad files) and create the tables."""
        communities = CommunityRegistry.load(list(community_paths))
        folder = intents_dir or settings.intents_dir or None
        intents = IntentRegistry(Path(folder) if folder else None)
        db = Database(settings.database_url)
        db.create_all()
        return cls(settings, communities, intents, db, clock)

    def _admins_of(self, community: str) -> list[str]:
        found = self.communities.get(community)
        return list(found.admins) if found else []

    def add_channel(self, channel: Channel) -> None:
        self.channels.append(channel)

    # -- work ----------------------------------------------------------------------------------
    async def submit(self, msg: IncomingMessage) -> Outcome:
        """Handle one incoming message, then deliver what it caused."""
        outcome = await asyncio.to_thread(self.core.handle, msg)
        if outcome.sent:
            await self.deliver_due()
        return outcome

    async def deliver_due(self) -> int:
        return await self.deliverer.deliver_due(self.clock.now())

    def run_due_followups(self) -> int:
        """Claim and run every due follow-up; returns how many were claimed.

        Each row runs on its own: one that fails is rolled back, logged and recorded on its row
        (retried after a backoff, given up with a notice to the admins after ``MAX_ERRORS``
        failures), and the others run all the same.
        """
        now = self.clock.now()
        count = 0
        while True:
            ids = claim_due(self.db, now, self.instance)
            for fid in ids:
                self._run_followup(fid, now)
            count += len(ids)
            if len(ids) < BATCH:
                return count

    def _run_followup(self, fid: int, now: datetime) -> None:
        try:
            self.core.run_followup(fid, now)
        except Exception as exc:
            log.exception("follow-up %s failed", fid)
            try:
                if self.core.followup_failed(fid, self.clock.now(), f"{type(exc).__name__}: {exc}"):
                    log.error("follow-up %s given up after %s failures; the admins are told", fid, MAX_ERRORS)
            except Exception:
                # Not even recorded (the database is down?): its lease runs out and it is tried again.
                log.exception("the failure of follow-up %s could not be recorded", fid)

    async def tick(self) -> None:
        """One scheduler beat: notice edited intents, run due follow-ups, deliver due messages."""
        async with self._tick_lock:
            result = self.intents.reload_if_changed()
            if result is not None:
                (log.info if result.ok else log.error)("intents: %s", result.message)
                if not result.ok:
                    for community in self.communities.all():
                        self.notify_admins(community.id, f"意图配置有误，仍在使用上一版：\n{result.message}")
            try:
                await asyncio.to_thread(self.run_due_followups)
            except Exception:  # claiming failed (the database is locked?): deliver all the same
                log.exception("follow-up sweep failed; the next tick tries again")
            await self.deliver_due()

    def notify_admins(self, community: str, text: str, event: str = "notice") -> None:
        """Queue a message to every admin of ``community``."""
        found = self.communities.get(community)
        if found is None:
            return
        with self.db.session() as session:
            fx = Effects(session, found, self.clock.now())
            for admin in found.admins:
                fx.send(admin, text, event)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the channels, the callback web server when WeChat / WeCom is served, and the tick."""
        for channel in self.channels:
            await channel.start(self)
        callbacks = any(channel.name in ("wechat", "wecom") for channel in self.channels)
        if callbacks or self.settings.console:
            from bot.channels.web import serve

            try:
                self._web = await serve(self, self.settings.host, self.settings.port)
            except OSError as exc:
                if callbacks:
                    raise  # WeChat / WeCom cannot work without it
                log.error("admin console not served: %s", exc)  # the chat channels work without it
            else:
                log.info("admin console: %s/admin/ (sign in: send 后台 or /web to the bot privately)",
                         public_base())
        await self._ensure_weekly_reports()
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(
            self.tick, "interval", seconds=self.settings.tick_seconds, max_instances=1, coalesce=True, id="tick"
        )
        self._scheduler.start()
        await self.tick()

    async def _ensure_weekly_reports(self) -> None:
        from jobs.weekly import ensure_weekly

        for community in self.communities.all():
            await asyncio.to_thread(ensure_weekly, self.db, community, self.clock.now())

    async def stop(self) -> None:
        if self._web is not None:
            await self._web.stop()
            self._web = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping channel %s failed", channel.name)
        self.db.dispose()
