"""The console over HTTP: sign-in links, sessions, roles, CSRF, actions through the chat commands, CSV, JSON."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from tests.console.conftest import BASE, play


def test_web_link_only_for_staff_in_private(played):
    link = played.link("gw1")
    assert link.startswith(f"{BASE}/admin/login?token=")
    from handlers.messages import IncomingMessage

    for chat, person, expected in (("group", "gw1", "私聊"), ("private", "r_zhao", "工作人员")):
        played.app.core.handle(IncomingMessage(community="zhenghong", chat=chat, sender=person, text="/web",
                                               at=played.clock.now(), chat_ref="group"))
        from sqlmodel import select

        from storage.models import Outbox
        with played.app.db.session() as s:
            row = s.exec(select(Outbox).where(Outbox.recipient == person).order_by(Outbox.id.desc())).first()
        assert row.event == "refused" and expected in row.text and "token" not in row.text


def test_a_link_signs_in_once_and_sets_a_safe_cookie(played, monkeypatch):
    client = played.client()
    link = played.link("admin1").replace(BASE, "")
    # a chat app's link preview does not use the link up
    assert client.get(link, headers={"user-agent": "TelegramBot (like TwitterBot)"}).status_code == 200
    first = client.get(link, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/admin/"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1
    assert client.get("/admin/").status_code == 200
    again = played.client().get(link, follow_redirects=False)
    assert again.status_code == 403 and "无效或已过期" in again.text
    monkeypatch.setenv("LINLI_PUBLIC_URL", "https://linli.example.org")
    secure = played.client().get(played.link("admin1").replace("https://linli.example.org", ""), follow_redirects=False)
    assert "https://linli.example.org/admin/login?token=" not in secure.text and "Secure" in secure.headers["set-cookie"]


def test_a_link_expires_after_ten_minutes(tmp_path):
    p = play(tmp_path)
    link = p.link("admin1").replace(BASE, "")
    p.clock.set(p.clock.now() + timedelta(minutes=11))
    assert p.client().get(link, follow_redirects=False).status_code == 403
    p.app.db.dispose()


def test_without_a_session_nothing_is_shown(played):
    client = played.client()
    assert client.get("/admin/").status_code == 401
    assert client.get("/admin/api/tickets").json() == {"error": client.get("/admin/api/tickets").json()["error"]}
    assert client.get("/admin/api/tickets").status_code == 401
    assert client.get("/admin/export/tickets.csv").status_code == 401
    assert client.get("/healthz").json()["ok"] is True


def test_roles_see_their_own_tickets_and_never_another_community(played):
    ids = lambda client, q="": [t["id"] for t in client.get(f"/admin/api/tickets{q}").json()["tickets"]]  # noqa: E731
    admin, gw2, bh3 = played.client("admin1"), played.client("gw2"), played.client("bh3")
    assert ids(admin) == [4, 3, 2, 1]
    assert ids(gw2) == [1]                 # grid g2: building 8
    assert ids(bh3) == [4, 2]              # building 3
    assert ids(admin, "?status=open&building=5") == [3]
    assert ids(admin, "?type=elevator") == [2]
    assert ids(admin, "?grid=g2") == [1]
    assert ids(admin, "?assignee=bh3") == [4, 2]
    assert ids(admin, "?from=2026-03-03&to=2026-03-03") == [4, 3]
    assert ids(admin, "?overdue=1") == []   # #3 went to 网格员陈静 at 17:00 (ack 4h): due 21:00
    played.clock.set(played.clock.now() + timedelta(hours=3, minutes=30))
    assert ids(admin, "?overdue=1") == [3]
    other = played.client("admin1", "jinxiu")
    assert ids(other) == [5]
    refused = admin.get("/admin/tickets/5")
    assert refused.status_code == 403 and "无权查看" in refused.text and "7号楼" not in refused.text
    assert gw2.get("/admin/tickets/2").status_code == 403


def test_phone_numbers_only_for_admins_and_grid_workers(played):
    assert "13800138000" in played.client("admin1").get("/admin/tickets/2").text  # 赵女士's phone
    assert "13800138000" in played.client("gw1").get("/admin/tickets/2").text
    page = played.client("bh3").get("/admin/tickets/2").text
    assert "赵女士" in page and "13800138000" not in page


def test_actions_need_the_csrf_token_and_run_the_chat_commands(played):
    admin = played.client("admin1")
    page = admin.get("/admin/tickets/3").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert admin.post("/admin/tickets/3/act", data={"action": "transfer", "arg": "bh4"}).status_code == 403
    done = admin.post("/admin/tickets/3/act", data={"csrf": csrf, "action": "transfer", "arg": "bh4"})
    assert done.status_code == 200 and "已转派给楼栋长郑丽" in done.text
    assert "转派" in done.text and "→ 楼栋长郑丽" in done.text  # the event log, names not ids
    api = {t["id"]: t for t in admin.get("/admin/api/tickets").json()["tickets"]}
    assert api[3]["assignee_name"] == "楼栋长郑丽"
    # the same permission as in chat: a building head may not close
    bh3 = played.client("bh3")
    csrf3 = re.search(r'name="csrf" value="([^"]+)"', bh3.get("/admin/tickets/2").text).group(1)
    refused = bh3.post("/admin/tickets/2/act", data={"csrf": csrf3, "action": "reopen", "arg": "再看看"})
    assert "只有管理员可以重开" in refused.text
    retype = admin.post("/admin/tickets/3/act", data={"csrf": csrf, "action": "retype", "arg": "drainage"})
    assert "类型已改为「下水道排水」" in retype.text and "照明 → 下水道排水" in retype.text
    closed = admin.post("/admin/tickets/3/act", data={"csrf": csrf, "action": "close", "arg": "已在线下处理"})
    assert "已关闭" in closed.text


def test_csv_exports(played):
    admin = played.client("admin1")
    rows = list(csv.reader(io.StringIO(admin.get("/admin/export/tickets.csv?building=3").text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["工单号", "类型", "位置"] and [r[0] for r in rows[1:]] == ["4", "2"]
    figures = admin.get("/admin/export/figures.csv?from=2026-03-01&to=2026-03-31&by=grid")
    assert figures.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(figures.text.lstrip("\ufeff"))))
    assert table[0][:3] == ["网格", "工单数", "响应率"] and table[-1][0] == "合计"


def test_metrics_api_names_every_figure(played):
    got = played.client("admin1").get("/admin/api/metrics?from=2026-03-01&to=2026-03-31&by=building").json()
    assert got["by"] == "building" and [r["key"] for r in got["rows"]] == ["3", "5", "8"]
    for name in ("tickets", "response_rate", "on_time_rate", "resolution_rate", "satisfaction_rate",
                 "median_accept_minutes", "median_close_hours", "reopen_rate", "escalations", "nudges"):
        assert name in got["total"]
    assert played.client("admin1").get("/admin/api/metrics?by=nonsense").status_code == 400


def test_review_queue_resolves_through_the_intake_rule(tmp_path):
    p = play(tmp_path)
    from handlers.messages import IncomingMessage
    from storage.models import ReviewItem

    with p.app.db.session() as s:
        s.add(ReviewItem(community="zhenghong", person="r_zhou", text="6号楼那边有点问题", guess="lighting",
                         confidence=0.3, at=p.clock.now()))
    admin = p.client("admin1")
    page = admin.get("/admin/review").text
    assert "6号楼那边有点问题" in page and "周同学" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    done = admin.post("/admin/review/1", data={"csrf": csrf, "intent": "lighting"})
    assert "已处理为「照明」" in done.text
    tickets = admin.get("/admin/api/tickets?building=6").json()["tickets"]
    assert len(tickets) == 1 and tickets[0]["type"] == "lighting"
    assert p.client("gw1").get("/admin/review").status_code == 403
    assert IncomingMessage  # imported for symmetry with the chat path
    p.app.db.dispose()


def test_password_sign_in_only_when_configured_and_logout_needs_csrf(played, monkeypatch):
    client = played.client()
    assert 'type="password"' not in client.get("/admin/login").text
    assert client.post("/admin/login", data={"password": "x", "community": "zhenghong"}).status_code == 403
    monkeypatch.setenv("LINLI_ADMIN_PASSWORD", "s3cret-setup")
    assert 'type="password"' in client.get("/admin/login").text
    assert client.post("/admin/login", data={"password": "wrong", "community": "zhenghong"}).status_code == 403
    signed = client.post("/admin/login", data={"password": "s3cret-setup", "community": "jinxiu"})
    assert signed.status_code == 200 and "锦绣花园" in signed.text and "周主任（管理员）" in signed.text
    assert [t["id"] for t in client.get("/admin/api/tickets").json()["tickets"]] == [5]
    client.post("/admin/logout", data={"csrf": "forged"})
    assert client.get("/admin/").status_code == 200  # a forged logout does nothing
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text).group(1)
    client.post("/admin/logout", data={"csrf": csrf})
    assert client.get("/admin/").status_code == 401


def test_pages_carry_a_strict_content_security_policy(played):
    page = played.client("admin1").get("/admin/figures")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # data travels as a JSON island, code only from /admin/static
    assert 'type="application/json" id="figures-data"' in page.text
