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


def ticket_opened(tid: int, intent_name: str, assignee_name: str, urgent: bool) -> str:
    lead = "⚠️ 紧急情况已同时通知网格员。" if urgent else ""
    return f"已收到，工单 #{tid}（{intent_name}）已派给{assignee_name}处理。{lead}处理进度会通知您。"


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


def closed_by_resident(tid: int) -> str:
    return f"好的，工单 #{tid} 已关闭。感谢您的反馈！"


def closed_notice(tid: int, intent_name: str, why: str) -> str:
    return f"工单 #{tid}（{intent_name}）已关闭：{why}"


def reopened_resident(tid: int) -> str:
    return f"抱歉还没解决，工单 #{tid} 已重新打开，已通知处理人。"


def reopened_headline(by: str, count: int) -> str:
    return f"【重开】{by}反馈还没解决（第{count}次重开），请重新处理工单"


def refused(reason: str) -> str:
    return f"无法执行：{reason}"


HELP = (
    "可用命令：\n/mine 我的工单\n/status 编号 查看进度\n"
    "处理人：/accept 编号、/done 编号 说明、/transfer 编号 人员、/reject 编号 原因\n"
    "管理员：/close 编号 原因、/reopen 编号、/reload、/stats\n登记住址：绑定 3-2-1201"
)
