"""The ``linli`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from storage.community import CommunityError, load_community

log = logging.getLogger("linli")

EXAMPLES = Path("examples")


def _sqlite_url(path: str) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _fail(message: str, code: int = 2) -> int:
    print(f"linli: {message}", file=sys.stderr)
    return code


# -- simulate / demo ------------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace) -> int:
    from bot.app import LinliApp
    from bot.clock import ManualClock
    from bot.simulate import run_simulation, write_tickets
    from intents.loader import IntentConfigError

    tmp = None
    if args.db:
        url = _sqlite_url(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="linli-sim-")
        url = _sqlite_url(os.path.join(tmp.name, "sim.db"))
    clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    try:
        app = LinliApp.build(Settings(database_url=url), [args.community], args.intents, clock=clock)
    except (CommunityError, IntentConfigError) as exc:
        return _fail(f"cannot start:\n{exc}")
    try:
        events = sys.stdin if args.events == "-" else open(args.events, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        return _fail(f"cannot read events: {exc}")
    try:
        with events:
            pretty = sys.stdout if getattr(args, "pretty", False) else None
            out = None if pretty else sys.stdout
            code = asyncio.run(run_simulation(app, clock, events, out, pretty))
        if args.tickets:
            write_tickets(app, app.communities.all()[0], Path(args.tickets))
    finally:
        app.db.dispose()
        if tmp is not None:
            tmp.cleanup()
    return code


DEMO_DB = "linli-demo.db"


def cmd_demo(args: argparse.Namespace) -> int:
    print("邻里 Linli demo — 正弘悦府, a compound of 12 buildings in two grids. Every line below went through")
    print("the real classifier, ticket rules, follow-up sweep and outbox; the clock is fast-forwarded.\n")
    args.pretty = True
    if not args.db:  # the demo's own database, fresh each time, kept for the console afterwards
        args.db = DEMO_DB
        for suffix in ("", "-wal", "-shm"):
            Path(DEMO_DB + suffix).unlink(missing_ok=True)
    code = cmd_simulate(args)
    if code == 0:
        print_demo_figures(args)
    return code


def print_demo_figures(args: argparse.Namespace) -> None:
    """The demo's figures (the console's definitions) and how to open the console on its database."""
    from datetime import date

    from bot.app import LinliApp
    from console.metrics import FIGURE_NAMES, report
    from console.scope import Viewer

    app = LinliApp.build(Settings(database_url=_sqlite_url(args.db)), [args.community], args.intents)
    community = app.communities.all()[0]
    try:
        with app.db.session() as s:
            found = report(s, Viewer(community, community.admins[0]), app.core.spec_for, date(2000, 1, 1),
                           date(2100, 1, 1), by="type")
    finally:
        app.db.dispose()
    t = found["total"]
    pct = lambda v: "—" if v is None else f"{v * 100:.0f}%"  # noqa: E731
    num = lambda v: "—" if v is None else f"{v:g}"  # noqa: E731
    print("\n── 统计（与管理后台同一口径）──")
    print(f"{FIGURE_NAMES['tickets']} {t['tickets']}｜响应率 {pct(t['response_rate'])}｜按时办结率 {pct(t['on_time_rate'])}｜"
          f"解决率 {pct(t['resolution_rate'])}｜满意率 {pct(t['satisfaction_rate'])}（{t['satisfaction_answers']} 条评价）")
    print(f"接单用时中位数 {num(t['median_accept_minutes'])} 分钟｜办结用时中位数 {num(t['median_close_hours'])} 小时｜"
          f"重开率 {pct(t['reopen_rate'])}｜升级 {t['escalations']}｜催办 {t['nudges']}")
    for row in found["rows"]:
        print(f"  {row['label']}：{row['tickets']} 单，响应率 {pct(row['response_rate'])}，解决率 {pct(row['resolution_rate'])}")
    print(f"\nConsole for this demo's database ({args.db}):")
    print(f"  linli console --community {args.community} --db {args.db}")
    print(f"  → http://127.0.0.1:8080/admin/  (it prints a one-time sign-in link for "
          f"{community.person_name(community.admins[0])})")


# -- run ------------------------------------------------------------------------------------------
def build_channels(app, settings: Settings) -> list:
    """Every channel whose configuration is present."""
    from bot.channels.telegram import TelegramChannel
    from bot.channels.wechat import WeChatChannel
    from bot.channels.wecom import WeComChannel

    found = []
    for kind in (TelegramChannel, WeChatChannel, WeComChannel):
        channel = kind.from_settings(settings, app.communities)
        if channel is not None:
            found.append(channel)
    return found


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import LinliApp
    from intents.loader import IntentConfigError

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = Settings(**overrides)
    paths = list(args.community or []) + [p for p in settings.communities.split(",") if p.strip()]
    if not paths:
        return _fail("no community file: pass --community FILE or set LINLI_COMMUNITIES")
    try:
        app = LinliApp.build(settings, paths, args.intents)
        channels = build_channels(app, settings)
    except (CommunityError, IntentConfigError) as exc:
        return _fail(f"cannot start:\n{exc}")
    if not channels:
        return _fail(
            "no channel is configured: set LINLI_TELEGRAM_TOKEN for Telegram, or add `wechat:` / `wecom:` to the "
            "community file (see README). To try Linli without any platform: make demo / linli simulate.",
            code=3,
        )
    for channel in channels:
        app.add_channel(channel)
    return asyncio.run(_serve(app))


async def _serve(app) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        log.info("Linli running with %s", ", ".join(ch.name for ch in app.channels))
        await stop.wait()
    finally:
        await app.stop()
    return 0


# -- console --------------------------------------------------------------------------------------
def console_link(app, community, person: str | None = None) -> str:
    """A one-time sign-in link for ``person`` (default: the community's first admin)."""
    from console.auth import new_link

    with app.db.session() as s:
        return new_link(s, community.id, person or community.admins[0], datetime.now(UTC))


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the admin console alone for a database (the one `simulate --db` or the demo wrote)."""
    from bot.app import LinliApp
    from bot.channels.web import WebServer
    from intents.loader import IntentConfigError

    host, port = args.host or "127.0.0.1", args.port if args.port is not None else 8080
    os.environ.setdefault("LINLI_PUBLIC_URL", f"http://{host}:{port}")
    settings = Settings(**({"database_url": _sqlite_url(args.db)} if args.db else {}))
    try:
        app = LinliApp.build(settings, args.community, args.intents)
    except (CommunityError, IntentConfigError) as exc:
        return _fail(f"cannot start:\n{exc}")

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = WebServer(app, [], host=host, port=port)
        try:
            await server.start()
        except OSError as exc:
            return _fail(str(exc))
        print(f"console: {os.environ['LINLI_PUBLIC_URL']}/admin/  (Ctrl-C stops)", flush=True)
        for community in app.communities.all():
            print(f"sign in as {community.person_name(community.admins[0])} ({community.name}), valid 10 minutes, "
                  f"once: {console_link(app, community)}", flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()
            app.db.dispose()
        return 0

    return asyncio.run(serve())


# -- people / community / review ------------------------------------------------------------------
def _app_for(args: argparse.Namespace):
    from bot.app import LinliApp

    settings = Settings(**({"database_url": _sqlite_url(args.db)} if args.db else {}))
    return LinliApp.build(settings, [args.community], getattr(args, "intents", None))


def cmd_people_invite(args: argparse.Namespace) -> int:
    try:
        app = _app_for(args)
    except CommunityError as exc:
        return _fail(str(exc))
    community = app.communities.all()[0]
    people = args.person or list(community.people)
    unknown = [p for p in people if p not in community.people]
    if unknown:
        return _fail(f"not in the community file: {', '.join(unknown)}")
    bot = args.bot or "<your_bot>"
    for person in people:
        code = app.identities.create_invite(community.id, person)
        print(f"{person}\t{community.person_name(person)}\t{code}\thttps://t.me/{bot}?start={code}")
    return 0


def cmd_community_check(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            community = load_community(path)
        except CommunityError as exc:
            print(exc)
            failed = 1
        else:
            print(f"{path}: ok — {community.name} ({community.id}), {len(community.buildings)} buildings, "
                  f"{len(community.grids)} grids, {len(community.people)} people")
    return failed


def cmd_review(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from storage.models import ReviewItem

    try:
        app = _app_for(args)
    except CommunityError as exc:
        return _fail(str(exc))
    if args.resolve:
        item_id, intent = args.resolve
        if not item_id.isdigit():
            return _fail(f"review item ids are numbers, not {item_id!r}")
        with app.db.session() as s:
            item = s.get(ReviewItem, int(item_id))
            if item is None:
                return _fail(f"no review item {item_id}")
            text = item.text
        if intent != "none" and app.core.spec_for(intent) is None:
            return _fail(f"unknown intent {intent!r}")
        if args.add_example:
            from intents.edit import add_example
            from intents.loader import IntentConfigError

            try:
                where = add_example(intent, text, app.intents.directory)
            except (KeyError, ValueError, IntentConfigError) as exc:
                return _fail(f"not added: {exc}")
            print(f"added to {where} as an example of {intent}", file=sys.stderr)
        # the same rule as the admins' /review in chat: the ticket opens as if the message had been classified so
        error = app.core.resolve_review(int(item_id), intent, "cli")
        if error:
            return _fail(error)
        # the replies and the dispatch wait in the outbox: the running bot delivers them
        print(json.dumps({"id": int(item_id), "text": text, "intent": intent}, ensure_ascii=False))
        return 0
    with app.db.session() as s:
        rows = s.exec(select(ReviewItem).where(ReviewItem.resolved.is_(None)).order_by(ReviewItem.id)).all()
        for item in rows:
            print(json.dumps({"id": item.id, "at": item.at.isoformat(), "person": item.person, "text": item.text,
                              "guess": item.guess, "confidence": round(item.confidence, 3)}, ensure_ascii=False))
    return 0


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli", description="Linli (邻里): residents' messages → handled requests.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="replay a chat from JSON lines through the real code")
    p.add_argument("--community", required=True, help="community YAML file")
    p.add_argument("--intents", help="intent YAML folder (default: the shipped intents)")
    p.add_argument("--db", help="SQLite file to keep state in (default: temporary)")
    p.add_argument("--tickets", help="write the final tickets as JSON lines here")
    p.add_argument("--pretty", action="store_true", help="print a readable chat instead of JSON lines")
    p.add_argument("events", help="events file (JSON lines), - for stdin")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="play the bundled scenario of the sample community")
    p.add_argument("--community", default=str(EXAMPLES / "community.yaml"))
    p.add_argument("--intents")
    p.add_argument("--db")
    p.add_argument("--tickets")
    p.add_argument("events", nargs="?", default=str(EXAMPLES / "demo.jsonl"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="serve the configured channels (Telegram, WeChat, WeCom)")
    p.add_argument("--community", action="append", help="community YAML file (repeatable)")
    p.add_argument("--intents")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("console", help="serve the admin console alone for a database")
    p.add_argument("--community", action="append", required=True, help="community YAML file (repeatable)")
    p.add_argument("--db", help="SQLite file (default: LINLI_DATABASE_URL)")
    p.add_argument("--intents", help="intent YAML folder (default: the shipped intents)")
    p.add_argument("--host", help="default 127.0.0.1")
    p.add_argument("--port", type=int, help="default 8080")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("people", help="people of a community")
    psub = p.add_subparsers(dest="people_command", required=True)
    q = psub.add_parser("invite", help="print one invite code / deep link per person")
    q.add_argument("--community", required=True)
    q.add_argument("--db", help="SQLite file (default: LINLI_DATABASE_URL)")
    q.add_argument("--bot", help="the Telegram bot's username, for the deep links")
    q.add_argument("person", nargs="*")
    q.set_defaults(func=cmd_people_invite)

    p = sub.add_parser("community", help="community files")
    csub = p.add_subparsers(dest="community_command", required=True)
    q = csub.add_parser("check", help="validate community files")
    q.add_argument("files", nargs="+")
    q.set_defaults(func=cmd_community_check)

    p = sub.add_parser("review", help="messages the classifier was unsure about")
    p.add_argument("--community", required=True)
    p.add_argument("--db")
    p.add_argument("--intents", help="intent YAML folder (default: the shipped intents)")
    p.add_argument("--resolve", nargs=2, metavar=("ID", "INTENT"), help="mark an item as INTENT (or none)")
    p.add_argument("--add-example", action="store_true", help="with --resolve: add the text to INTENT's examples")
    p.set_defaults(func=cmd_review)

    try:
        from intents import cli as intents_cli
    except ImportError:  # pragma: no cover - the intent engine is part of the package
        intents_cli = None
    if intents_cli is not None and hasattr(intents_cli, "register"):
        intents_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in ("simulate", "demo"):
        logging.getLogger().setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
