"""A day of a busy compound through the whole loop, and the follow-up sweep's scaling.

Prints: messages/minute through intake + tickets + follow-ups + outbox on SQLite, the cost per
message beside ``classify`` alone on the same texts, peak memory, and the sweep time with 1,000
and with 100,000 open tickets when the same number of follow-ups is due.

    .venv/bin/python benchmarks/loop.py [--messages 6000] [--residents 400]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import LinliApp  # noqa: E402
from bot.channels.simulated import SimulatedChannel  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.simulate import Simulator  # noqa: E402
from handlers.messages import IncomingMessage  # noqa: E402
from jobs.sweep import claim_due  # noqa: E402
from storage.models import FollowUp, Ticket  # noqa: E402

COMMUNITY = ROOT / "examples" / "community.yaml"

ISSUES = [
    "{b}号楼{u}单元楼道灯又不亮了，晚上黑漆漆的",
    "{b}栋厨房下水道堵了，水下不去",
    "{b}号楼楼下又有人拉电线给电瓶车充电",
    "{b}号楼楼上天天半夜装修，吵得睡不着",
    "{b}号楼停水了吗？水龙头一滴水都没有",
    "{b}号楼{u}单元电梯又坏了，停在8楼不动",
    "{b}号楼门口垃圾桶满了好几天没人清",
    "{b}号楼前面的车把消防通道堵了",
    "{b}栋暖气片冰凉的，家里才十五度",
    "{b}号楼草坪上全是狗屎，养狗的也不管",
    "{b}号楼地下室老鼠太多了",
    "{b}号楼{u}单元门禁坏了，刷卡没反应",
]
CHAT = [
    "早上好各位邻居", "收到", "+1", "哈哈哈哈", "谢谢物业，灯修好了👍", "今天降温了，大家注意保暖",
    "有人团购车厘子吗？", "谁家的猫跑丢了？橘色的", "明天上午小区停水检修，请大家提前储水", "晚上一起跳广场舞吗",
    "楼下快递柜满了我先去驿站拿", "孩子考上大学了，请大家吃糖🍬", "好的", "[图片]", "辛苦了师傅",
    "周末有没有一起爬山的", "物业通知：本周五消杀灭鼠，请看好宠物", "电梯今天修好了，谢谢", "👍👍", "晚安",
]


def day_of_messages(n: int, residents: int, seed: int = 7) -> list[tuple[datetime, str, str]]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC) - timedelta(hours=8)  # 07:00 Shanghai
    step = timedelta(hours=16) / n
    out = []
    for i in range(n):
        sender = f"r{rng.randrange(residents)}"
        if rng.random() < 0.15:
            text = rng.choice(ISSUES).format(b=rng.randint(1, 12), u=rng.randint(1, 4))
        else:
            text = rng.choice(CHAT)
        out.append((start + step * i, sender, text))
    return out


async def replay(app: LinliApp, clock: ManualClock, messages) -> dict:
    community = app.communities.all()[0]
    sim = Simulator(app, community, clock)
    staff_actions = 0
    for i, (at, sender, text) in enumerate(messages):
        await sim.advance(at)
        await app.submit(IncomingMessage(community=community.id, chat="group", sender=sender, text=text, at=at,
                                         platform_id=f"m{i}", chat_ref="group"))
        if i % 40 == 39:  # staff work through some of their tickets; some residents confirm
            with app.db.session() as s:
                open_ = s.exec(select(Ticket.id, Ticket.assignee, Ticket.status, Ticket.reporter)
                               .where(Ticket.status.in_(["open", "accepted", "resolved"]))
                               .order_by(Ticket.id).limit(4)).all()
            for tid, assignee, status, reporter in open_:
                command = {"open": f"/accept {tid}", "accepted": f"/done {tid} 已处理"}.get(status)
                who, chat = (assignee, "private") if command else (reporter, "private")
                await app.submit(IncomingMessage(community=community.id, chat=chat, sender=who,
                                                 text=command or "好了，谢谢", at=at, platform_id=f"s{i}-{tid}"))
                staff_actions += 1
    await sim.advance(messages[-1][0] + timedelta(hours=8))
    return {"staff_actions": staff_actions}


def bench_loop(n: int, residents: int) -> None:
    messages = day_of_messages(n, residents)
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
        app = LinliApp.build(Settings(database_url=f"sqlite:///{tmp}/day.db"), [COMMUNITY], clock=clock)
        channel = SimulatedChannel(None, clock, app.communities.all()[0].tz)
        app.add_channel(channel)
        texts = [t for _, _, t in messages]
        classify = app.intents.classifier.classify
        t0 = time.perf_counter()
        for text in texts:
            classify(text)
        classify_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        extra = asyncio.run(replay(app, clock, messages))
        loop_s = time.perf_counter() - t0
        with app.db.session() as s:
            tickets = len(s.exec(select(Ticket.id)).all())
            followups = len(s.exec(select(FollowUp.id).where(FollowUp.done_at.is_not(None))).all())
        app.db.dispose()
    total = n + extra["staff_actions"]
    print(f"loop: {n} resident messages + {extra['staff_actions']} staff/resident actions from {residents} residents")
    print(f"  tickets opened {tickets}, follow-up rows run or retired {followups}, bot messages sent {len(channel.sent)}")
    print(f"  whole loop: {loop_s:.2f} s → {total / loop_s * 60:,.0f} messages/minute ({loop_s / total * 1e3:.2f} ms/message)")
    print(f"  classify alone on the same texts: {classify_s / n * 1e3:.3f} ms/message "
          f"(the loop costs {loop_s / total / (classify_s / n):.1f}× classify)")
    print(f"  peak memory (max RSS of this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def bench_sweep(open_tickets: int, due: int, trials: int = 5) -> tuple[float, float]:
    """Median seconds to (claim, claim and run) ``due`` due follow-ups among the pending rows of
    ``open_tickets`` open tickets (three future follow-ups each)."""
    now = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    claims, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(now)
        app = LinliApp.build(Settings(database_url=f"sqlite:///{tmp}/sweep.db"), [COMMUNITY], clock=clock)
        app.add_channel(SimulatedChannel(None, clock, app.communities.all()[0].tz))
        base = dict(community="zhenghong", intent="lighting", status="open", building="3", urgent=False,
                    text="3号楼楼道灯不亮", reporter="r_zhao", assignee="bh3", escalation_level=0, reopen_count=0,
                    confidence=1.0, channel="simulated", opened_at=now, dispatched_at=now)
        future = now + timedelta(days=30)
        with app.db.engine.begin() as conn:
            conn.execute(insert(Ticket), [{**base, "id": i + 1} for i in range(open_tickets)])
            conn.execute(insert(FollowUp), [
                {"ticket_id": i + 1, "kind": k, "due_at": future, "generation": 0, "attempts": 0}
                for i in range(open_tickets) for k in ("ack_reminder", "ack_escalate", "resolve_reminder")])
        for trial in range(trials):
            clock.set(now + timedelta(hours=trial))
            with app.db.engine.begin() as conn:
                conn.execute(insert(FollowUp), [
                    {"ticket_id": i % open_tickets + 1, "kind": "ack_reminder", "due_at": clock.now(),
                     "generation": 0, "attempts": 0} for i in range(due)])
            t0 = time.perf_counter()
            claimed = claim_due(app.db, clock.now(), "bench", limit=due)
            t1 = time.perf_counter()
            for fid in claimed:
                app.core.run_followup(fid, clock.now())
            t2 = time.perf_counter()
            assert len(claimed) == due, (len(claimed), due)
            claims.append(t1 - t0)
            runs.append(t2 - t0)
        app.db.dispose()
    return statistics.median(claims), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--residents", type=int, default=400)
    parser.add_argument("--due", type=int, default=200)
    args = parser.parse_args()
    bench_loop(args.messages, args.residents)
    for label, (claim_s, run_s) in (("1,000", bench_sweep(1_000, args.due)), ("100,000", bench_sweep(100_000, args.due))):
        print(f"sweep of {args.due} due follow-ups with {label} open tickets (3 pending rows each): "
              f"claim {claim_s * 1e3:.1f} ms, claim + run {run_s * 1e3:.0f} ms (median of 5)")

if __name__ == "__main__":
    main()
