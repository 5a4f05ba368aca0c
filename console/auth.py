"""Sign-in without passwords to remember: ``/web`` (or 后台) in a private chat gives a one-time link.

The link (``<LINLI_PUBLIC_URL>/admin/login?token=…``) is valid for 10 minutes and once; opening it
creates a 12-hour session (cookie: HttpOnly, SameSite=Lax, Secure behind TLS). Only SHA-256 hashes of the
token and of the session id are stored. ``LINLI_ADMIN_PASSWORD`` enables a password sign-in as a
community's first admin, for the first setup.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete

from handlers.effects import Effects
from storage.console import WebSession, WebToken
from storage.db import Database, utc

LINK_VALID = timedelta(minutes=10)
SESSION_VALID = timedelta(hours=12)
COOKIE = "linli_session"
DEFAULT_BASE = "http://127.0.0.1:8080"


def public_base() -> str:
    return (os.environ.get("LINLI_PUBLIC_URL") or DEFAULT_BASE).rstrip("/")


def admin_password() -> str | None:
    return os.environ.get("LINLI_ADMIN_PASSWORD") or None


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_link(session, community: str, person: str, now: datetime) -> str:
    """A one-time sign-in link for ``person`` (written in the caller's transaction)."""
    token = secrets.token_urlsafe(24)
    session.add(WebToken(token_hash=_hash(token), community=community, person=person, created_at=now,
                         expires_at=now + LINK_VALID))
    return f"{public_base()}/admin/login?token={token}"


def cmd_web(ctx, _args: str) -> None:
    """``/web`` or 后台: a staff member's one-time console link, in a private chat only."""
    fx: Effects = ctx.fx
    if not fx.community.is_staff(ctx.msg.sender):
        ctx.refuse("管理后台只对工作人员开放")
        return
    if ctx.msg.chat != "private":
        ctx.refuse("请私聊我发送「后台」或 /web 获取登录链接（链接不能发在群里）")
        return
    url = new_link(fx.session, fx.community.id, ctx.msg.sender, fx.now)
    ctx.reply(f"管理后台登录链接（10 分钟内有效，只能用一次，请勿转发）：\n{url}")


def redeem(db: Database, token: str, now: datetime) -> tuple[str, WebSession] | None:
    """Use a link's token once: (the raw session id for the cookie, the session) or None."""
    with db.session() as s:
        row = s.get(WebToken, _hash(token or ""))
        if row is None or row.used_at is not None or utc(row.expires_at) < now:
            return None
        row.used_at = now
        s.add(row)
        return _open(s, row.community, row.person, now)


def password_session(db: Database, password: str, community: str, person: str, now: datetime):
    expected = admin_password()
    if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
        return None
    with db.session() as s:
        return _open(s, community, person, now)


def _open(s, community: str, person: str, now: datetime) -> tuple[str, WebSession]:
    raw = secrets.token_urlsafe(32)
    found = WebSession(id_hash=_hash(raw), community=community, person=person, csrf=secrets.token_urlsafe(24),
                       created_at=now, expires_at=now + SESSION_VALID)
    s.add(found)
    s.execute(delete(WebSession).where(WebSession.expires_at < now))  # tidy up expired sessions
    return raw, found


def lookup(db: Database, raw: str | None, now: datetime) -> WebSession | None:
    if not raw:
        return None
    with db.session() as s:
        found = s.get(WebSession, _hash(raw))
        if found is None or utc(found.expires_at) < now:
            return None
        return found


def end(db: Database, raw: str | None) -> None:
    if raw:
        with db.session() as s:
            s.execute(delete(WebSession).where(WebSession.id_hash == _hash(raw)))


def csrf_ok(session: WebSession, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), given.encode())
