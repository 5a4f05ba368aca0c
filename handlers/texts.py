"""Every sentence a person sees, in one place (Chinese for residents and staff)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

STATUS_NAMES = {"open": "待接单", "accepted": "处理中", "resolved": "待确认", "closed": "已关闭"}

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """Hide mobile numbers (13800138000 → 138****8000); applied to everything sent to a group."""
    return _PHONE.sub(r"\1****\3", text)


def place(building: str | None, unit: str | None, room: str | None) -> str:
    parts = []
    if building:
        parts.append(f"{building}{'座' if building.isalpha() else '号楼'}")
    if unit:
        parts.append(f"{unit}单元")
    if room:
        parts.append(room)
    return "".join(parts) or "位置未说明"


def local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%m-%d %H:%M")


def clock(at: datetime, tz: ZoneInfo) -> str:
    """A time of day as people say it: today 07:30, or 03-03 07:30 when it is not today."""
    return at.astimezone(tz).strftime("%H:%M")


def ticket_opened(
    tid: int, intent_name: str, assignee_name: str, urgent: bool, alerted: bool = False, held_until: str | None = None
) -> str:
    """The resident's acknowledgement. It says what really happens: "已派给" only when the card goes now,
    "将于 07:30 派给" when quiet hours hold it, and "同时通知网格员" only when a second person was told."""
    sent = f"将于 {held_until} 派给{assignee_name}处理（夜间免打扰）" if held_until else f"已派给{assignee_name}处理"
    lead = "⚠️ 紧急情况已同时通知网格员。" if urgent and alerted else ("⚠️ 已按紧急情况处理。" if urgent else "")
    return f"已收到，工单 #{tid}（{intent_name}）{sent}。{lead}处理进度会通知您。"


def tickets_opened(parts: list[tuple[int, str, str]]) -> str:
    """One acknowledgement for a message naming several problems: [(id, intent name, assignee name)]."""
    listed = "；".join(f"工单 #{tid}（{name}）派给{who}" for tid, name, who in parts)
    return f"已收到，您说的几个问题分别建了工单：{listed}。处理进度会通知您。"


def advice(template: str, numbers: dict[str, str]) -> str:
    """What to do at once in an urgent case, with the community's emergency numbers filled in."""
    return "⚠️ 紧急提示：" + template.format_map(numbers)


def me_too(tid: int, intent_name: str) -> str:
    return f"收到，您反映的情况已并入工单 #{tid}（{intent_name}），已把您加为报告人，进度会一并通知您。"


def status(tid: int, intent_name: str, state: str, assignee: str, since: str, deadline: str, nudged: bool) -> str:
    lead = "已替您催办处理人。" if nudged else "刚刚已催办过，请稍候。"
    return (f"工单 #{tid}（{intent_name}）目前「{state}」，处理人：{assignee}，自 {since} 起；"
            f"要求 {deadline} 前办结。{lead}")


def nudge(tid: int, intent_name: str, where: str, who: str, count: int) -> str:
    return f"【催办】{who}在问工单 #{tid}（{intent_name}，{where}）什么时候处理（第{count}次催办），请尽快处理并回复进度。"


def escalated_away(tid: int, intent_name: str, why: str, to: str) -> str:
    return f"工单 #{tid}（{intent_name}）因{why}已升级给{to}处理，您无需再处理。"


def transferred_away(tid: int, intent_name: str, by: str, to: str) -> str:
    return f"工单 #{tid}（{intent_name}）已由{by}转派给{to}处理，您无需再处理。"


def review_ack() -> str:
    return "已收到，工作人员确认后处理。"


def reopened_other(tid: int, intent_name: str) -> str:
    return f"您报的工单 #{tid}（{intent_name}）有邻居反馈还没解决，已重新打开并通知处理人。"


def duplicate(tid: int, intent_name: str) -> str:
    return f"这个问题已有工单 #{tid}（{intent_name}）在处理，已把您加为报告人，进度会一并通知您。"


def clarify() -> str:
    return "请问是几号楼？（例如：3号楼2单元）"


def staff_card(
    tid: int, intent_name: str, where: str, reporter: str, text: str, deadline: str, urgent: bool, headline: str
) -> str:
    flag = "【紧急】" if urgent else ""
    return (
        f"{flag}{headline} #{tid}（{intent_name}）\n"
        f"位置：{where}\n报告人：{reporter}\n内容：{text}\n请在 {deadline} 前处理。\n"
        f"接单 /accept {tid}　完成 /done {tid} 说明　转派 /transfer {tid} 人员　退回 /reject {tid} 原因"
    )


def reminder(tid: int, intent_name: str, what: str) -> str:
    return f"【提醒】工单 #{tid}（{intent_name}）{what}，请尽快处理。"


def urgent_alert(tid: int, intent_name: str, where: str, assignee: str, text: str) -> str:
    return f"【紧急】工单 #{tid}（{intent_name}）{where}：{text}\n已派给{assignee}，请一并关注。"


def resolution_check(tid: int, intent_name: str, note: str, again: bool) -> str:
    lead = "再次确认：" if again else ""
    said = f"处理说明：{note}。" if note else ""
    return (
        f"{lead}您报的工单 #{tid}（{intent_name}）处理人已标记完成。{said}"
        "问题解决了吗？请回复「1」已解决，或「2」还没解决。"
    )


def resolution_options(tid: int) -> str:
    return f"没看明白您的意思😊 工单 #{tid} 的问题解决了吗？请回复「1」已解决，或「2」还没解决。"


def ticket_holder(tid: int, holder: str, state: str) -> str:
    return f"工单 #{tid} 现由{holder}处理（{state}）。"


def closed_by_resident(tid: int) -> str:
    return f"好的，工单 #{tid} 已关闭。感谢您的反馈！"


def closed_notice(tid: int, intent_name: str, why: str) -> str:
    return f"工单 #{tid}（{intent_name}）已关闭：{why}"


def reopened_resident(tid: int) -> str:
    return f"抱歉还没解决，工单 #{tid} 已重新打开，已通知处理人。"


def reopened_headline(by: str, count: int) -> str:
    return f"【重开】{by}反馈还没解决（第{count}次重开），请重新处理工单"


#: What each follow-up kind is called in a notice to the admins.
FOLLOWUP_NAMES = {
    "ack_reminder": "接单提醒", "ack_escalate": "超时未接单升级", "resolve_reminder": "办结提醒",
    "resolve_escalate": "超时未办结升级", "resolution_check": "解决情况回访", "clarify_timeout": "“几号楼”询问超时派单",
}


def followup_failed(kind: str, tid: int | None, person: str | None, tries: int, error: str) -> str:
    what = FOLLOWUP_NAMES.get(kind, kind)
    about = f"工单 #{tid} 的" if tid is not None else (f"{person} 的楼号询问的" if person else "")
    return (
        f"【系统故障】{about}定时任务「{what}」连续 {tries} 次执行失败，已停止重试，请人工跟进。\n"
        f"错误：{error[:200]}"
    )


def refused(reason: str) -> str:
    return f"无法执行：{reason}"


HELP = (
    "怎么报修：直接在业主群或这里用一句话说清问题和位置，例如「3号楼2单元楼道灯不亮」，我会建工单派给负责人，"
    "并告诉您工单号；处理完会请您确认，回复「好了」或「还没好」即可。\n"
    "其他：我的工单（/mine）、进度 编号（/status 编号）、登记住址：绑定 3-2-1201\n"
    "处理人：接单 编号、完成 编号 说明、转派 编号 人员、退回 编号 原因\n"
    "管理员：关闭 编号 原因、/reopen 编号、/review 待确认消息、/reload、/stats"
)
