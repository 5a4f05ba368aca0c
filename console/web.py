"""The console's pages, CSV export and JSON API (Starlette, mounted at ``/admin`` by ``bot.channels.web``).

Every request is signed in (``console.auth``) and sees only what its role may (``console.scope``). Actions
build the same command a person would type in chat (``/transfer 5 李斌``) and run it through
``handlers.commands`` — one rule, one place; the command's answer is shown on the page instead of being sent.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from console import auth, metrics
from console.scope import Viewer, can_see, grid_of_ticket, ticket_clause
from handlers import commands, texts
from handlers.effects import Effects
from handlers.messages import IncomingMessage
from jobs.deadlines import deadlines
from storage.console import Satisfaction
from storage.db import utc
from storage.models import ReviewItem, Ticket, TicketEvent, TicketReporter

HERE = Path(__file__).parent
ROLE_NAMES = {"admin": "管理员", "grid_worker": "网格员", "building_head": "楼栋长", "resident": "居民"}
EVENT_NAMES = {
    "opened": "报告", "reporter_added": "追加报告人", "accepted": "接单", "done": "标记完成", "transferred": "转派",
    "rejected": "退回", "escalated": "升级", "reminded": "提醒", "nudged": "催办", "reopened": "重开",
    "closed": "关闭", "confirmed_fixed": "居民确认解决", "rated": "评价", "retyped": "改类型",
}
ANSWER_NAMES = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
PREVIEW_AGENTS = ("TelegramBot", "WhatsApp", "Slackbot", "facebookexternalhit", "Twitterbot", "Discordbot")
LIST_LIMIT = 500

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
_env.globals.update(
    pct=lambda v: "—" if v is None else f"{v * 100:.1f}%",
    num=lambda v: "—" if v is None else f"{v:g}",
)


@dataclass
class Row:
    """One ticket as the list shows it."""

    ticket: Ticket
    type_name: str
    place: str
    status_name: str
    assignee_name: str
    age: str
    age_hours: float
    deadline: datetime | None
    overdue: bool
    grid: str


class Console:
    """The console for one running Linli (``LinliApp``): its database, communities, intents and clock."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.db = app.db
        self.core = app.core

    def now(self) -> datetime:
        return self.app.clock.now().astimezone(UTC)

    # -- sign-in ---------------------------------------------------------------------------------
    def viewer(self, request: Request):
        found = auth.lookup(self.db, request.cookies.get(auth.COOKIE), self.now())
        if found is None:
            return None, None
        community = self.app.communities.get(found.community)
        if community is None:
            return None, None
        return Viewer(community, found.person), found

    def _cookie(self, request: Request, response: Response, raw: str) -> None:
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https" \
            or auth.public_base().startswith("https://")
        response.set_cookie(auth.COOKIE, raw, max_age=int(auth.SESSION_VALID.total_seconds()), path="/admin",
                            httponly=True, samesite="lax", secure=secure)

    async def login(self, request: Request) -> Response:
        if request.method == "POST":
            form = await request.form()
            communities = self.app.communities.all()
            chosen = self.app.communities.get(str(form.get("community") or "")) or communities[0]
            made = auth.password_session(self.db, str(form.get("password") or ""), chosen.id, chosen.admins[0],
                                         self.now())
            if made is None:
                return self.page(request, "login.html", None, status=403, error="密码不对", password=True,
                                 communities=communities)
            response = RedirectResponse("/admin/", status_code=303)
            self._cookie(request, response, made[0])
            return response
        token = request.query_params.get("token")
        agent = request.headers.get("user-agent", "")
        if token and not any(bot in agent for bot in PREVIEW_AGENTS):  # link previews must not use the link up
            made = auth.redeem(self.db, token, self.now())
            if made is not None:
                response = RedirectResponse("/admin/", status_code=303)
                self._cookie(request, response, made[0])
                return response
            return self.page(request, "login.html", None, status=403, error="登录链接无效或已过期，请在私聊中重新发送「后台」。",
                             password=auth.admin_password() is not None, communities=self.app.communities.all())
        return self.page(request, "login.html", None, password=auth.admin_password() is not None,
                         communities=self.app.communities.all())

    async def logout(self, request: Request) -> Response:
        viewer, session = self.viewer(request)
        form = await request.form()
        if session is not None and not auth.csrf_ok(session, str(form.get("csrf") or "")):
            return RedirectResponse("/admin/", status_code=303)  # a forged logout does nothing
        auth.end(self.db, request.cookies.get(auth.COOKIE))
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(auth.COOKIE, path="/admin")
        return response

    # -- rendering -------------------------------------------------------------------------------
    def page(self, request: Request, template: str, viewer: Viewer | None, status: int = 200, **data) -> HTMLResponse:
        _, session = self.viewer(request) if viewer is not None else (None, None)
        html = _env.get_template(template).render(
            viewer=viewer, csrf=session.csrf if session else "", role_names=ROLE_NAMES, request=request, **data)
        response = HTMLResponse(html, status_code=status)
        return _secure(response)

    def refused(self, request: Request, viewer: Viewer | None, text: str, status: int = 403) -> Response:
        if request.url.path.startswith("/admin/api/"):
            return _secure(JSONResponse({"error": text}, status_code=status))
        if viewer is None:
            return self.page(request, "login.html", None, status=status, error=text,
                             password=auth.admin_password() is not None, communities=self.app.communities.all())
        return self.page(request, "refused.html", viewer, status=status, message=text)

    def need(self, request: Request):
        viewer, session = self.viewer(request)
        if viewer is None:
            return None, self.refused(request, None, "请先登录：在私聊中给机器人发送「后台」或 /web，打开收到的链接。", 401)
        if viewer.role == "resident":
            return None, self.refused(request, viewer, "管理后台只对工作人员开放")
        return viewer, None

    # -- helpers ---------------------------------------------------------------------------------
    def type_name(self, intent: str) -> str:
        spec = self.core.spec_for(intent)
        return spec.name if spec else intent

    def types(self) -> list[tuple[str, str]]:
        return [(i, self.type_name(i)) for i in self.core.intent_ids()]

    def deadline_of(self, t: Ticket) -> datetime | None:
        """The next deadline: to accept (open) or to finish (accepted), from the current dispatch."""
        spec = self.core.spec_for(t.intent)
        if spec is None or spec.ack is None or t.status not in ("open", "accepted"):
            return None
        ack, resolve = deadlines(spec.ack, spec.resolve, t.urgent)
        return utc(t.dispatched_at) + (ack if t.status == "open" else resolve)

    def row(self, viewer: Viewer, t: Ticket) -> Row:
        now = self.now()
        age = now - utc(t.opened_at)
        deadline = self.deadline_of(t)
        c = viewer.community
        return Row(
            t, self.type_name(t.intent), t.area if t.area and not t.building else texts.place(t.building, t.unit, t.room),
            texts.STATUS_NAMES.get(t.status, t.status), c.person_name(t.assignee), _age(age),
            round(age.total_seconds() / 3600, 1), deadline, deadline is not None and deadline < now,
            grid_of_ticket(c, t.building, t.area),
        )

    def filters(self, request: Request) -> dict[str, str]:
        keys = ("status", "type", "building", "grid", "assignee", "urgent", "overdue", "from", "to")
        return {k: request.query_params.get(k, "").strip() for k in keys}

    def tickets(self, viewer: Viewer, f: dict[str, str]) -> list[Row]:
        c = viewer.community
        query = select(Ticket).where(ticket_clause(viewer))
        if f.get("status"):
            query = query.where(Ticket.status.in_(f["status"].split(","))) if f["status"] != "unclosed" \
                else query.where(Ticket.status != "closed")
        if f.get("type"):
            query = query.where(Ticket.intent == f["type"])
        if f.get("building"):
            query = query.where(Ticket.building == f["building"])
        if f.get("assignee"):
            query = query.where(Ticket.assignee == f["assignee"])
        if f.get("urgent") in ("1", "true", "on"):
            query = query.where(Ticket.urgent.is_(True))
        start, end = _date(f.get("from")), _date(f.get("to"))
        if start:
            query = query.where(Ticket.opened_at >= datetime.combine(start, datetime.min.time(), tzinfo=c.tz))
        if end:
            query = query.where(Ticket.opened_at < datetime.combine(end + timedelta(days=1), datetime.min.time(),
                                                                    tzinfo=c.tz))
        with self.db.session() as s:
            found = s.exec(query.order_by(Ticket.id.desc()).limit(LIST_LIMIT)).all()
        rows = [self.row(viewer, t) for t in found]
        if f.get("grid"):
            rows = [r for r in rows if r.grid == f["grid"]]
        if f.get("overdue") in ("1", "true", "on"):
            rows = [r for r in rows if r.overdue]
        return rows

    def ticket_json(self, viewer: Viewer, r: Row) -> dict:
        t = r.ticket
        return {
            "id": t.id, "type": t.intent, "type_name": r.type_name, "status": t.status, "status_name": r.status_name,
            "building": t.building, "unit": t.unit, "room": t.room, "area": t.area, "grid": r.grid,
            "grid_name": viewer.community.grids[r.grid].name or r.grid, "urgent": t.urgent,
            "assignee": t.assignee, "assignee_name": r.assignee_name,
            "opened_at": utc(t.opened_at).astimezone(viewer.community.tz).isoformat(),
            "age_hours": r.age_hours,
            "next_deadline": r.deadline.astimezone(viewer.community.tz).isoformat() if r.deadline else None,
            "overdue": r.overdue, "reopen_count": t.reopen_count, "escalation_level": t.escalation_level,
            "nudges": t.nudges, "text": t.text if viewer.sees_phones else texts.mask_phones(t.text),
        }

    def run_command(self, viewer: Viewer, text: str) -> tuple[bool, str]:
        """Run a chat command as ``viewer`` in one transaction; its answer comes back instead of being sent."""
        command = commands.parse(text)
        msg = IncomingMessage(community=viewer.community.id, chat="private", sender=viewer.person, text=text,
                              at=self.now(), channel="web")
        with self.db.session() as s:
            fx = Effects(s, viewer.community, self.now())
            ctx = commands.CommandContext(fx, msg, self.core.spec_for, self.core.reload_intents, self.core.locate,
                                          self.core.intent_ids)
            commands.run(ctx, command)
            s.flush()
            answers = [row for row in fx.sent if row.recipient == viewer.person and row.channel == "web"]
            for row in answers:
                s.delete(row)
        ok = not any(row.event == "refused" for row in answers)
        return ok, "\n".join(row.text for row in answers)

    def staff(self, viewer: Viewer) -> list[tuple[str, str]]:
        c = viewer.community
        return [(pid, c.person_name(pid)) for pid in c.people if c.is_staff(pid)]

    # -- pages -----------------------------------------------------------------------------------
    async def ticket_list(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        f = self.filters(request)
        rows = self.tickets(viewer, f)
        c = viewer.community
        return self.page(
            request, "tickets.html", viewer, rows=rows, f=f, types=self.types(), statuses=texts.STATUS_NAMES,
            buildings=list(c.buildings), grids=[(g, c.grids[g].name or g) for g in c.grids], staff=self.staff(viewer),
            query=urlencode({k: v for k, v in f.items() if v}), limit=LIST_LIMIT, tz=c.tz,
        )

    async def ticket_page(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        tid = request.path_params["tid"]
        c = viewer.community
        with self.db.session() as s:
            t = s.get(Ticket, tid)
            if t is None or not can_see(viewer, t):
                return self.refused(request, viewer, f"无权查看工单 #{tid}（不存在，或不在您负责的范围内）")
            reporters = s.exec(select(TicketReporter).where(TicketReporter.ticket_id == tid)
                               .order_by(TicketReporter.id)).all()
            events = s.exec(select(TicketEvent).where(TicketEvent.ticket_id == tid).order_by(TicketEvent.id)).all()
            rated = s.exec(select(Satisfaction).where(Satisfaction.ticket_id == tid,
                                                      Satisfaction.answer.is_not(None))).all()
        show = (lambda text: text) if viewer.sees_phones else texts.mask_phones
        people = [{
            "name": c.person_name(r.person, r.name), "at": texts.local(utc(r.at), c.tz), "text": show(r.text),
            "phone": (c.people[r.person].phone if r.person in c.people else None) if viewer.sees_phones else None,
            "chat": "业主群" if r.chat == "group" else "私聊",
        } for r in reporters]
        log = [{
            "at": texts.local(utc(e.at), c.tz), "who": "系统" if e.actor in ("system", "cli") else c.person_name(e.actor),
            "what": EVENT_NAMES.get(e.kind, e.kind),
            "change": f"{texts.STATUS_NAMES.get(e.from_status, '')} → {texts.STATUS_NAMES.get(e.to_status, '')}"
            if e.from_status and e.from_status != e.to_status else "",
            "note": show(_names(c, e.note)),
        } for e in events]
        answers = [{"who": c.person_name(r.person), "answer": ANSWER_NAMES[r.answer], "text": show(r.text)}
                   for r in rated]
        return self.page(
            request, "ticket.html", viewer, r=self.row(viewer, t), t=t, people=people, log=log, answers=answers,
            staff=self.staff(viewer), types=self.types(), notice=request.query_params.get("notice", ""),
            ok=request.query_params.get("ok", "1") == "1", tz=c.tz,
        )

    async def ticket_action(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        _, session = self.viewer(request)
        form = await request.form()
        if not auth.csrf_ok(session, str(form.get("csrf") or "")):
            return self.refused(request, viewer, "表单已过期，请刷新页面后重试", 403)
        tid = request.path_params["tid"]
        with self.db.session() as s:
            t = s.get(Ticket, tid)
            if t is None or not can_see(viewer, t):
                return self.refused(request, viewer, f"无权操作工单 #{tid}")
        action = str(form.get("action") or "")
        arg = re.sub(r"\s+", " ", str(form.get("arg") or "")).strip()
        if action not in ("transfer", "close", "reopen", "retype", "accept", "done"):
            return self.refused(request, viewer, "不认识的操作", 400)
        ok, answer = self.run_command(viewer, f"/{action} {tid} {arg}".strip())
        return RedirectResponse(f"/admin/tickets/{tid}?{urlencode({'notice': answer, 'ok': int(ok)})}",
                                status_code=303)

    async def review(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        if viewer.role != "admin":
            return self.refused(request, viewer, "只有管理员可以处理待确认消息")
        c = viewer.community
        with self.db.session() as s:
            items = s.exec(select(ReviewItem).where(ReviewItem.community == c.id, ReviewItem.resolved.is_(None))
                           .order_by(ReviewItem.id)).all()
        classifier = self.app.intents.classifier
        shown = []
        for item in items[:100]:
            top = [(sc.intent, self.type_name(sc.intent) if sc.intent != "none" else "非诉求")
                   for sc in classifier.analyse(item.text).scores[:3]]
            shown.append({"item": item, "who": c.person_name(item.person), "at": texts.local(utc(item.at), c.tz),
                          "guess": self.type_name(item.guess), "top": top})
        return self.page(request, "review.html", viewer, items=shown, types=self.types(),
                         notice=request.query_params.get("notice", ""))

    async def review_action(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        _, session = self.viewer(request)
        form = await request.form()
        if not auth.csrf_ok(session, str(form.get("csrf") or "")) or viewer.role != "admin":
            return self.refused(request, viewer, "表单已过期，或您不是管理员", 403)
        item_id, intent = request.path_params["item"], str(form.get("intent") or "")
        with self.db.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is None or item.community != viewer.community.id:
                return self.refused(request, viewer, f"找不到待确认消息 #{item_id}", 404)
            text = item.text
        notice = ""
        if form.get("train") and intent != "none":
            from intents.edit import add_example
            from intents.loader import IntentConfigError

            try:
                add_example(intent, text, self.app.intents.directory)
                notice = "已加入训练样例。"
            except (KeyError, ValueError, IntentConfigError) as exc:
                notice = f"未加入训练样例：{exc}。"
        error = self.core.resolve_review(item_id, intent, viewer.person, self.now())
        notice = (error or f"待确认消息 #{item_id} 已处理为「{self.type_name(intent) if intent != 'none' else '非诉求'}」。") \
            + (" " + notice if notice else "")
        return RedirectResponse(f"/admin/review?{urlencode({'notice': notice})}", status_code=303)

    def _report(self, request: Request, viewer: Viewer) -> dict:
        today = self.now().astimezone(viewer.community.tz).date()
        start, end = metrics.period(_date(request.query_params.get("from")), _date(request.query_params.get("to")),
                                    viewer, today)
        by = request.query_params.get("by") or "building"
        if by not in metrics.GROUPS:
            raise ValueError(f"by must be one of {', '.join(metrics.GROUPS)}")
        with self.db.session() as s:
            return metrics.report(s, viewer, self.core.spec_for, start, end, by)

    async def figures(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        try:
            found = self._report(request, viewer)
        except ValueError as exc:
            return self.refused(request, viewer, str(exc), 400)
        return self.page(request, "figures.html", viewer, report=found, names=metrics.FIGURE_NAMES,
                         groups=metrics.GROUP_NAMES, query=urlencode({k: found[k] for k in ("from", "to", "by")}))

    # -- CSV and JSON ----------------------------------------------------------------------------
    async def tickets_csv(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        rows = self.tickets(viewer, self.filters(request))
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["工单号", "类型", "位置", "网格", "状态", "处理人", "紧急", "报告时间", "已过(小时)", "下一时限", "超时",
                    "重开次数", "升级级别", "催办次数", "内容"])
        tz = viewer.community.tz
        for r in rows:
            t = r.ticket
            w.writerow([t.id, r.type_name, r.place, viewer.community.grids[r.grid].name or r.grid, r.status_name,
                        r.assignee_name, "是" if t.urgent else "", texts.local(utc(t.opened_at), tz), r.age_hours,
                        texts.local(r.deadline, tz) if r.deadline else "", "是" if r.overdue else "", t.reopen_count,
                        t.escalation_level, t.nudges, t.text if viewer.sees_phones else texts.mask_phones(t.text)])
        return _csv(out.getvalue(), "tickets.csv")

    async def figures_csv(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        try:
            found = self._report(request, viewer)
        except ValueError as exc:
            return self.refused(request, viewer, str(exc), 400)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow([metrics.GROUP_NAMES[found["by"]], *(metrics.FIGURE_NAMES[k] for k in metrics.FIGURES)])
        for row in [*found["rows"], {"label": "合计", **found["total"]}]:
            w.writerow([row["label"], *("" if row[k] is None else row[k] for k in metrics.FIGURES)])
        return _csv(out.getvalue(), f"figures-{found['by']}-{found['from']}-{found['to']}.csv")

    async def api_tickets(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        rows = self.tickets(viewer, self.filters(request))
        return _secure(JSONResponse({"tickets": [self.ticket_json(viewer, r) for r in rows], "limit": LIST_LIMIT}))

    async def api_metrics(self, request: Request) -> Response:
        viewer, refused = self.need(request)
        if refused:
            return refused
        try:
            return _secure(JSONResponse(self._report(request, viewer)))
        except ValueError as exc:
            return self.refused(request, viewer, str(exc), 400)

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=307)


def _secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _csv(text: str, name: str) -> Response:
    response = Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return _secure(response)


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}分钟"
    if minutes < 48 * 60:
        return f"{minutes // 60}小时{minutes % 60}分"
    return f"{minutes // 1440}天{minutes % 1440 // 60}小时"


_ARROW = re.compile(r"→\s*(\S+)")


def _names(community, note: str) -> str:
    """Event notes name people by id (``→ bh4``): show their names."""
    return _ARROW.sub(lambda m: "→ " + (community.person_name(m.group(1)) if m.group(1) in community.people
                                         else m.group(1)), note or "")


def console_routes(app: Any) -> list:
    """The routes under ``/admin`` for a running ``LinliApp`` (or anything with db, core, communities, intents, clock)."""
    c = Console(app)
    return [
        Route("/", c.ticket_list),
        Route("/login", c.login, methods=["GET", "POST"]),
        Route("/logout", c.logout, methods=["POST"]),
        Route("/tickets/{tid:int}", c.ticket_page),
        Route("/tickets/{tid:int}/act", c.ticket_action, methods=["POST"]),
        Route("/review", c.review),
        Route("/review/{item:int}", c.review_action, methods=["POST"]),
        Route("/figures", c.figures),
        Route("/export/tickets.csv", c.tickets_csv),
        Route("/export/figures.csv", c.figures_csv),
        Route("/api/tickets", c.api_tickets),
        Route("/api/metrics", c.api_metrics),
    ]


def console_app(app: Any) -> Starlette:
    from starlette.routing import Mount

    return Starlette(routes=[*console_routes(app), Mount("/static", StaticFiles(directory=HERE / "static"))])


