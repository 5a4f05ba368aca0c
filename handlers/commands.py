"""Text commands (buttons map onto the same commands), each with its permission check.

A person may cause an error (a bad number, no permission, a stale button): that is an answer,
never an exception, and it changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import func, select

from handlers import satisfaction, texts
from handlers.effects import Effects
from handlers.messages import IncomingMessage
from handlers.tickets import (
    check,
    close,
    dispatch,
    mark_done,
    opened_at_local,
    reopen,
)
from intents.model import IntentSpec
from storage.models import Resident, Ticket, TicketReporter

_COMMAND = re.compile(r"^\s*/(\w+)(?:@\w+)?(?:\s+(.*))?$", re.S)
_BIND = re.compile(r"^\s*(绑定|登记)\s*(.+)$", re.S)
# people's words for the commands: 接单 3, 完成 3 换了灯泡, 转派 3 李斌, 退回 3 不归我管, 进度 3, 关闭 3 重复
_WORDS = {"接单": "accept", "完成": "done", "办结": "done", "转派": "transfer", "退回": "reject", "进度": "status",
          "关闭": "close", "重开": "reopen", "审核": "review", "改类型": "retype"}
_WORD_COMMAND = re.compile(r"^\s*(" + "|".join(_WORDS) + r")\s*#?(\d+)(?:\s+(.*)|\s*)$", re.S)
_MINE = re.compile(r"^\s*(我的工单|我的报修|我报的)\s*[?？]?\s*$")
_WEB = re.compile(r"^\s*(后台|管理后台)\s*$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str


def parse(text: str) -> Command | None:
    """``/accept 12`` → Command("accept", "12"); ``绑定 3-2-1201`` → Command("bindhome", ...)."""
    m = _COMMAND.match(text)
    if m:
        return Command(m.group(1).lower(), (m.group(2) or "").strip())
    m = _BIND.match(text)
    if m:
        return Command("bindhome", m.group(2).strip())
    m = _WORD_COMMAND.match(text)
    if m:
        return Command(_WORDS[m.group(1)], f"{m.group(2)} {(m.group(3) or '').strip()}".strip())
    if _MINE.match(text):
        return Command("mine", "")
    if _WEB.match(text):
        return Command("web", "")
    return None


class CommandContext:
    """What a command needs: the transaction, the sender, and access to the intents."""

    def __init__(
        self,
        fx: Effects,
        msg: IncomingMessage,
        spec_for: Callable[[str], IntentSpec | None],
        reload: Callable[[], tuple[bool, str]],
        locate: Callable[[str], tuple[str | None, str | None, str | None]],
        intent_ids: Callable[[], list[str]] = list,
    ) -> None:
        self.fx, self.msg, self.spec_for, self.reload, self.locate = fx, msg, spec_for, reload, locate
        self.intent_ids = intent_ids

    def reply(self, text: str, ticket: int | None = None) -> None:
        self.fx.send(self.msg.sender, text, "reply", ticket, channel=self.msg.channel)

    def refuse(self, reason: str, ticket: int | None = None) -> None:
        self.fx.send(self.msg.sender, texts.refused(reason), "refused", ticket, channel=self.msg.channel)


def _ticket_arg(ctx: CommandContext, args: str, usage: str) -> tuple[Ticket, str] | None:
    m = re.match(r"^#?(\d+)\s*(.*)$", args, re.S)
    if not m:
        ctx.refuse(f"用法：{usage}")
        return None
    ticket = ctx.fx.session.get(Ticket, int(m.group(1)))
    if ticket is None or ticket.community != ctx.fx.community.id:
        ctx.refuse(f"找不到工单 #{m.group(1)}")
        return None
    return ticket, m.group(2).strip()


def _state_refusal(ticket: Ticket, verb: str) -> str:
    return f"工单 #{ticket.id} 当前状态为「{texts.STATUS_NAMES[ticket.status]}」，不能{verb}"


def _guard(ctx: CommandContext, ticket: Ticket, action: str, verb: str, who: str) -> bool:
    verdict = check(ctx.fx, ticket, action, ctx.msg.sender)
    if verdict.ok:
        return True
    holder = ""
    if action in ("accept", "done", "transfer", "reject") and ticket.status != "closed":
        holder = texts.ticket_holder(ticket.id, ctx.fx.community.person_name(ticket.assignee),
                                     texts.STATUS_NAMES[ticket.status])
    if verdict.reason == "forbidden":
        ctx.refuse(f"只有{who}可以{verb}工单 #{ticket.id}。{holder}", ticket.id)
    else:
        ctx.refuse(f"{_state_refusal(ticket, verb)}。{holder}", ticket.id)
    return False


TicketHandler = Callable[[CommandContext, Ticket, str], None]


def ticket_command(usage: str, action: str | None = None, verb: str = "", who: str = "") -> Callable[
    [TicketHandler], Callable[[CommandContext, str], None]
]:
    """Wrap a command that acts on ``#N``: find the ticket (refusing unknown numbers) and, for an
    ``action`` of the state machine, check that the sender may do it now; the handler gets the
    ticket and the rest of the arguments."""

    def wrap(handler: TicketHandler) -> Callable[[CommandContext, str], None]:
        def run(ctx: CommandContext, args: str) -> None:
            found = _ticket_arg(ctx, args, usage)
            if found is None:
                return
            ticket, rest = found
            if action is not None and not _guard(ctx, ticket, action, verb, who):
                return
            handler(ctx, ticket, rest)

        run.__doc__ = handler.__doc__
        return run

    return wrap


@ticket_command("/accept 工单号", "accept", "接单", "处理人")
def cmd_accept(ctx: CommandContext, ticket: Ticket, _rest: str) -> None:
    before = ticket.status
    ticket.status, ticket.accepted_at = "accepted", ctx.fx.now
    ctx.fx.log(ticket, ctx.msg.sender, "accepted", before)
    ctx.fx.cancel(ticket.id, ["ack_reminder", "ack_escalate"])
    ctx.fx.retract(ticket.id, ["dispatched", "reminder", "escalated"])  # a held card for an accepted ticket stays home
    ctx.fx.session.add(ticket)
    ctx.reply(f"已接单 #{ticket.id}。处理完请发送 /done {ticket.id} 说明", ticket.id)


@ticket_command("/done 工单号 说明", "done", "标记完成", "处理人")
def cmd_done(ctx: CommandContext, ticket: Ticket, note: str) -> None:
    spec = ctx.spec_for(ticket.intent)
    mark_done(ctx.fx, ticket, spec, ctx.msg.sender, note)
    ctx.reply(f"工单 #{ticket.id} 已标记完成，正在请报告人确认。", ticket.id)


def staff_by_word(community, word: str) -> str | None:
    """A staff member named by id (bh3) or by name (李斌, 楼栋长李斌)."""
    staff = [pid for pid in community.people if community.is_staff(pid)]
    if word in staff:
        return word
    named = [pid for pid in staff if word and (community.person_name(pid) == word or community.person_name(pid).endswith(word))]
    return named[0] if len(named) == 1 else None


@ticket_command("/transfer 工单号 人员", "transfer", "转派", "处理人或管理员")
def cmd_transfer(ctx: CommandContext, ticket: Ticket, target: str) -> None:
    community = ctx.fx.community
    staff = [pid for pid in community.people if community.is_staff(pid)]
    target = staff_by_word(community, target.split()[0]) if target else None
    if target is None:
        options = "、".join(community.person_name(pid) for pid in staff)
        ctx.refuse(f"请写明转派给谁：转派 {ticket.id} 姓名。可选：{options}", ticket.id)
        return
    previous = ticket.assignee
    before = ticket.status
    ticket.status = "open"
    ticket.accepted_at = None
    ctx.fx.log(ticket, ctx.msg.sender, "transferred", before, f"→ {target}")
    headline = f"{ctx.fx.community.person_name(ctx.msg.sender)}转派给您的工单"
    spec = ctx.spec_for(ticket.intent)
    dispatch(ctx.fx, ticket, spec, target, "dispatched", headline)
    ctx.reply(f"工单 #{ticket.id} 已转派给{community.person_name(target)}。", ticket.id)
    if previous not in (ctx.msg.sender, target):  # moves are announced to whoever had it
        ctx.fx.send(previous, texts.transferred_away(ticket.id, spec.name if spec else ticket.intent,
                                                     community.person_name(ctx.msg.sender), community.person_name(target)),
                    "reply", ticket.id, deferred=True, urgent=ticket.urgent)


@ticket_command("/reject 工单号 原因", "reject", "退回", "处理人")
def cmd_reject(ctx: CommandContext, ticket: Ticket, why: str) -> None:
    if not why:
        ctx.refuse(f"请写明原因：/reject {ticket.id} 原因", ticket.id)
        return
    community = ctx.fx.community
    role = community.role_of(ctx.msg.sender)
    target = community.grid_worker(community.grid_of(ticket.building)) if role == "building_head" else community.admins[0]
    before = ticket.status
    ticket.status, ticket.accepted_at = "open", None
    ctx.fx.log(ticket, ctx.msg.sender, "rejected", before, why)
    headline = f"{community.person_name(ctx.msg.sender)}退回（{why}），请处理或改派"
    dispatch(ctx.fx, ticket, ctx.spec_for(ticket.intent), target, "dispatched", headline)
    ctx.reply(f"工单 #{ticket.id} 已退回，转给{community.person_name(target)}。", ticket.id)


@ticket_command("/fixed 工单号", "fixed", "确认", "报告人")
def cmd_fixed(ctx: CommandContext, ticket: Ticket, _rest: str) -> None:
    apply_answer(ctx.fx, ticket, ctx.spec_for(ticket.intent), ctx.msg.sender, "fixed")


@ticket_command("/notfixed 工单号", "not_fixed", "确认", "报告人")
def cmd_notfixed(ctx: CommandContext, ticket: Ticket, _rest: str) -> None:
    apply_answer(ctx.fx, ticket, ctx.spec_for(ticket.intent), ctx.msg.sender, "not_fixed")


def apply_answer(fx: Effects, ticket: Ticket, spec: IntentSpec, person: str, action: str) -> None:
    """A reporter says fixed (close) or not fixed (reopen to the same assignee)."""
    if action == "fixed":
        close(fx, ticket, spec, person, "居民确认已解决", by_resident=True)
    else:
        reopen(fx, ticket, spec, person, "居民反馈未解决")


@ticket_command("/close 工单号 原因", "close", "关闭", "管理员")
def cmd_close(ctx: CommandContext, ticket: Ticket, why: str) -> None:
    if not why:
        ctx.refuse(f"关闭工单需要写明原因：/close {ticket.id} 原因", ticket.id)
        return
    close(ctx.fx, ticket, ctx.spec_for(ticket.intent), ctx.msg.sender, why, by_resident=False)
    ctx.reply(f"工单 #{ticket.id} 已关闭。", ticket.id)


@ticket_command("/reopen 工单号", "reopen", "重开", "管理员")
def cmd_reopen(ctx: CommandContext, ticket: Ticket, why: str) -> None:
    reopen(ctx.fx, ticket, ctx.spec_for(ticket.intent), ctx.msg.sender, why or "管理员重开")
    ctx.reply(f"工单 #{ticket.id} 已重新打开。", ticket.id)


@ticket_command("/retype 工单号 类型")
def cmd_retype(ctx: CommandContext, ticket: Ticket, intent: str) -> None:
    """Change a ticket's type (an admin, or its assignee): the log keeps both; the new type's deadlines apply
    from the next dispatch."""
    fx = ctx.fx
    if not (fx.community.is_admin(ctx.msg.sender) or ticket.assignee == ctx.msg.sender):
        ctx.refuse(f"只有管理员或处理人可以修改工单 #{ticket.id} 的类型", ticket.id)
        return
    if ticket.status == "closed":
        ctx.refuse(f"{_state_refusal(ticket, '修改类型')}", ticket.id)
        return
    word = intent.split()[0] if intent.strip() else ""
    spec = ctx.spec_for(word) or next(
        (ctx.spec_for(i) for i in _intent_ids(ctx) if ctx.spec_for(i) and ctx.spec_for(i).name == word), None)
    if spec is None:
        names = "、".join(ctx.spec_for(i).name for i in _intent_ids(ctx) if ctx.spec_for(i))
        ctx.refuse(f"请写明新类型：/retype {ticket.id} 类型。可选：{names}", ticket.id)
        return
    old = ctx.spec_for(ticket.intent)
    if spec.id == ticket.intent:
        ctx.reply(f"工单 #{ticket.id} 已经是「{spec.name}」。", ticket.id)
        return
    ticket.intent = spec.id
    fx.log(ticket, ctx.msg.sender, "retyped", ticket.status, f"{old.name if old else '?'} → {spec.name}")
    fx.session.add(ticket)
    ctx.reply(f"工单 #{ticket.id} 的类型已改为「{spec.name}」。", ticket.id)


def _intent_ids(ctx: CommandContext) -> list[str]:
    return list(ctx.intent_ids())


def cmd_web(ctx: CommandContext, args: str) -> None:
    """``/web`` or 后台: a one-time link to the admin console (``console.auth``)."""
    from console.auth import cmd_web as web

    web(ctx, args)


def _describe(ctx: CommandContext, ticket: Ticket) -> str:
    spec = ctx.spec_for(ticket.intent)
    name = spec.name if spec else ticket.intent
    c = ctx.fx.community
    return (
        f"#{ticket.id} {name}｜{texts.place(ticket.building, ticket.unit, ticket.room)}｜"
        f"{texts.STATUS_NAMES[ticket.status]}｜处理人 {c.person_name(ticket.assignee)}｜{opened_at_local(ticket, c)}"
    )


@ticket_command("/status 工单号")
def cmd_status(ctx: CommandContext, ticket: Ticket, _rest: str) -> None:
    ctx.reply(_describe(ctx, ticket), ticket.id)


def cmd_mine(ctx: CommandContext, _args: str) -> None:
    s, me = ctx.fx.session, ctx.msg.sender
    assigned = s.exec(
        select(Ticket).where(Ticket.community == ctx.fx.community.id, Ticket.assignee == me, Ticket.status != "closed")
    ).all()
    reported = s.exec(
        select(Ticket)
        .join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
        .where(Ticket.community == ctx.fx.community.id, TicketReporter.person == me, Ticket.status != "closed")
    ).all()
    lines = [f"待我处理：{_describe(ctx, t)}" for t in assigned] + [f"我报的：{_describe(ctx, t)}" for t in reported]
    ctx.reply("\n".join(lines) if lines else "您目前没有未关闭的工单。")


def cmd_stats(ctx: CommandContext, _args: str) -> None:
    if not ctx.fx.community.is_admin(ctx.msg.sender):
        ctx.refuse("只有管理员可以查看统计")
        return
    s, cid = ctx.fx.session, ctx.fx.community.id
    by_status = dict(s.exec(select(Ticket.status, func.count()).where(Ticket.community == cid).group_by(Ticket.status)).all())
    by_intent = Counter(
        dict(s.exec(select(Ticket.intent, func.count()).where(Ticket.community == cid).group_by(Ticket.intent)).all())
    )
    escalated = s.exec(select(func.count()).where(Ticket.community == cid, Ticket.escalation_level > 0)).one()
    reopened = s.exec(select(func.count()).where(Ticket.community == cid, Ticket.reopen_count > 0)).one()
    status_line = "，".join(f"{texts.STATUS_NAMES[k]} {by_status.get(k, 0)}" for k in texts.STATUS_NAMES)
    top = "，".join(f"{(ctx.spec_for(k).name if ctx.spec_for(k) else k)} {n}" for k, n in by_intent.most_common(5))
    ctx.reply(f"工单统计：{status_line}\n升级过 {escalated}，重开过 {reopened}\n最多：{top or '无'}")


def cmd_reload(ctx: CommandContext, _args: str) -> None:
    if not ctx.fx.community.is_admin(ctx.msg.sender):
        ctx.refuse("只有管理员可以重新加载意图配置")
        return
    ok, message = ctx.reload()
    (ctx.reply if ok else ctx.refuse)(message)


def cmd_bindhome(ctx: CommandContext, args: str) -> None:
    building, unit, room = ctx.locate(args)
    if not building:
        ctx.refuse("没认出楼号，请这样写：绑定 3-2-1201（楼-单元-房号）")
        return
    fx = ctx.fx
    row = fx.session.get(Resident, (fx.community.id, ctx.msg.sender)) or Resident(
        community=fx.community.id, person=ctx.msg.sender, updated_at=fx.now
    )
    row.name = ctx.msg.sender_name or row.name
    row.building, row.unit, row.room, row.updated_at = building, unit, room, fx.now
    fx.session.add(row)
    ctx.reply(f"已登记您的住址：{texts.place(building, unit, room)}。以后报修没写楼号时默认是这里。")


def cmd_help(ctx: CommandContext, _args: str) -> None:
    ctx.reply(texts.HELP)


def cmd_review(ctx: CommandContext, args: str) -> None:
    """``/review`` lists the messages waiting for a look; ``/review N 类型`` opens the ticket as if
    classified so (``/review N none``: not a request)."""
    if not ctx.fx.community.is_admin(ctx.msg.sender):
        ctx.refuse("只有管理员可以处理待确认消息")
        return
    from handlers.intake import pending_reviews, resolve_review

    fx = ctx.fx
    if not args.strip():
        items = pending_reviews(fx)
        if not items:
            ctx.reply("没有待确认的消息。")
            return
        lines = [f"#{i.id} {texts.local(i.at, fx.community.tz)} {fx.community.person_name(i.person)}：{i.text}"
                 f"（猜测：{(ctx.spec_for(i.guess).name if ctx.spec_for(i.guess) else i.guess)}）" for i in items[:20]]
        ctx.reply("待确认的消息：\n" + "\n".join(lines) + "\n回复「/review 编号 类型」建单，或「/review 编号 none」忽略。")
        return
    parts = args.split()
    if len(parts) != 2 or not parts[0].lstrip("#").isdigit():
        ctx.refuse("用法：/review 编号 类型（例如 /review 3 lighting，或 /review 3 none）")
        return
    error = resolve_review(fx, int(parts[0].lstrip("#")), parts[1], ctx.spec_for, ctx.locate, ctx.msg.sender)
    if error:
        ctx.refuse(error)
    else:
        ctx.reply(f"待确认消息 #{parts[0].lstrip('#')} 已处理：{parts[1]}。")


COMMANDS: dict[str, Callable[[CommandContext, str], None]] = {
    "accept": cmd_accept,
    "done": cmd_done,
    "transfer": cmd_transfer,
    "reject": cmd_reject,
    "fixed": cmd_fixed,
    "notfixed": cmd_notfixed,
    "close": cmd_close,
    "reopen": cmd_reopen,
    "status": cmd_status,
    "mine": cmd_mine,
    "stats": cmd_stats,
    "reload": cmd_reload,
    "bindhome": cmd_bindhome,
    "help": cmd_help,
    "start": cmd_help,
    "review": cmd_review,
    "rate": satisfaction.cmd_rate,
    "retype": cmd_retype,
    "web": cmd_web,
}


def run(ctx: CommandContext, command: Command) -> None:
    handler = COMMANDS.get(command.name)
    if handler is None:
        ctx.refuse(f"不认识的命令 /{command.name}。发送 /help 查看可用命令")
        return
    handler(ctx, command.args)

