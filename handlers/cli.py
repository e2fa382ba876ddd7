"""The `tsunagu` command: serve, db upgrade/check/downgrade, chat, programme import/list, demo,
export, report, cases export/search, slack manifest and line richmenu."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import shutil
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.progress import Progress
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.demo import DemoResult
    from bot.programmes.service import Programmes


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # the server is only needed here

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers > 1 and settings.sandbox_enabled:
        # The sandbox's fake LINE and Slack keep their chats in this process's memory.
        print("The sandbox runs in one process: TSUNAGU_WORKERS is ignored.", file=sys.stderr)
        workers = 1
    # The app reads its settings from the environment; it must know the address it is
    # served on, because the sandbox's SDK clients call back to this same server; each
    # worker process must know how many share the platforms' rate limits.
    os.environ["HOST"], os.environ["PORT"] = host, str(port)
    os.environ["TSUNAGU_WORKERS"] = str(workers)
    metrics_dir = None
    if workers > 1:
        from storage.migrate import upgrade

        # Once, before the workers start: they would otherwise race to migrate.
        upgrade(settings.database_url)
        print(f"Starting {workers} worker processes on http://{host}:{port}", file=sys.stderr)
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # /metrics adds up the workers' counts from files in this folder (fresh per run).
            metrics_dir = tempfile.mkdtemp(prefix="tsunagu-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if settings.log_format == "json":
        from bot.logs import configure_logging

        # The supervisor of several workers logs too: in JSON like everything else.
        configure_logging(settings.log_level, "json")
    # Behind a reverse proxy: trust its X-Forwarded-For/-Proto from these addresses only.
    proxies = settings.forwarded_allow_ips.strip()
    try:
        uvicorn.run(
            "handlers.asgi:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_level=settings.log_level.lower(),
            # JSON logs: uvicorn's own records go through the app's JSON handler too.
            log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            access_log=args.access_log,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
            timeout_graceful_shutdown=10,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from storage import migrate

    if args.action == "upgrade":
        migrate.upgrade(settings.database_url, args.revision or "head")
        print("database is at the latest revision")
    elif args.action == "downgrade":
        migrate.downgrade(settings.database_url, args.revision or "base")
    elif args.action == "check":
        migrate.check(settings.database_url)
        print("models and migrations agree")
    return 0


async def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.commands import Commands, Services
    from bot.coordination import Coordination
    from bot.dialogue import Dialogue
    from bot.effects import EffectContext
    from bot.inbox import Inbox
    from bot.programmes.service import Programmes
    from handlers.console import ConsoleChat, render
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    inbox = Inbox(
        make_sessionmaker(engine),
        Dialogue(default_locale=args.lang or settings.default_locale),
        effects=EffectContext(settings.privacy_notice_version),
    )
    await inbox.start()
    locale = args.lang or settings.default_locale
    # Coordinators' commands read the database; with no Slack here, nothing is posted.
    coordination = Coordination(
        make_sessionmaker(engine), locale=locale, timezone=settings.timezone, coordinator_channel=""
    )
    programmes = Programmes(make_sessionmaker(engine), coordination, locale=locale)
    commands = Commands(Services(coordination, programmes=programmes))
    chat = ConsoleChat(inbox, user=args.user, commands=commands, locale=locale)
    print(
        "(tsunagu chat: type your answers; a number taps a choice; "
        "/tsunagu help for coordinators' commands; Ctrl-D to quit)"
    )
    print(render(await chat.follow()))
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "> ")
            except EOFError:
                break
            if not line.strip():
                continue
            if chat.is_command(line):
                print(await chat.command(line))
                continue
            print(render(await chat.say(line)))
    finally:
        await inbox.stop()
        await engine.dispose()
    return 0


def _shift_date(value: str | None, timezone: str) -> date | str | None:
    """--shift-to as a date (None without it); an error message when it is not one."""
    if not value:
        return None
    if value == "today":
        return datetime.now(ZoneInfo(timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        return "--shift-to takes YYYY-MM-DD or 'today'"


async def _import_programme(
    args: argparse.Namespace, settings: Settings, programmes: Programmes
) -> int:
    """`tsunagu programme import FILE`: read, check, import; 0, or why not (1, 2)."""
    import yaml

    from bot.programmes.schedule import ScheduleError, parse_programme
    from bot.programmes.service import TXT

    locale = settings.default_locale
    if not args.file:
        print("tsunagu programme import FILE [--shift-to YYYY-MM-DD|today]")
        return 2
    try:
        raw = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8")
        data = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    shift = _shift_date(args.shift_to, settings.timezone)
    if isinstance(shift, str):
        print(shift, file=sys.stderr)
        return 2
    try:
        spec = parse_programme(data, shift_to=shift)
        with Progress("importing") as progress:
            result = await programmes.import_spec(spec, actor="cli", progress=progress)
    except ScheduleError as exc:  # a bad file, or a phase for a project that does not exist
        print(exc.text(locale), file=sys.stderr)
        return 1
    counts = {
        "phases": result.phases,
        "added": result.added,
        "updated": result.updated,
        "cancelled": result.cancelled,
        "scheduled": result.scheduled,
    }
    print(TXT.imported(locale, name=spec.name, **counts))
    return 0


async def _programme(args: argparse.Namespace, settings: Settings) -> int:
    from bot.coordination import Coordination
    from bot.programmes.service import Programmes
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import upgrade

    locale = settings.default_locale
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    coordination = Coordination(
        maker,
        locale=locale,
        timezone=settings.timezone,
        coordinator_channel=settings.slack_coordinator_channel if settings.slack_enabled else "",
    )
    programmes = Programmes(maker, coordination, locale=locale)
    try:
        if args.action == "import":
            failed = await _import_programme(args, settings, programmes)
            if failed:
                return failed
        print(await programmes.schedule_text(locale))
    finally:
        await engine.dispose()
    return 0


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.coordination import Coordination
    from bot.demo import load_demo
    from bot.effects import EffectContext
    from bot.matching.service import Matching
    from bot.settings import SANDBOX_COORDINATORS
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import upgrade

    if not settings.sandbox_enabled and not args.force:
        # Demo people have made-up LINE ids: real LINE would refuse every push to them.
        print(
            "LINE or Slack credentials are set, so the demo would go to the real platforms.\n"
            "Run it in the sandbox (TSUNAGU_SANDBOX=on) or pass --force.",
            file=sys.stderr,
        )
        return 2
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    try:
        coordination = Coordination(
            maker,
            locale=settings.default_locale,
            timezone=settings.timezone,
            coordinator_channel=settings.slack_coordinator_channel,
        )
        matching = Matching(maker, coordination)
        from bot.programmes.service import Programmes

        programmes = Programmes(maker, coordination, locale=settings.default_locale)
        # As in the app: an accepted request joins the programme, then is announced.
        coordination.hooks.recruiting.extend([programmes.join_current, matching.announce])
        coordination.hooks.needs_changed.append(matching.needs_changed)
        effects = EffectContext(settings.privacy_notice_version, coordination, matching, programmes)
        actor = SANDBOX_COORDINATORS[0] if settings.sandbox_enabled else "demo"
        with Progress("loading demo") as progress:
            result = await load_demo(
                maker,
                effects,
                coordination,
                actor=actor,
                programmes=programmes,
                today=datetime.now(ZoneInfo(settings.timezone)).date(),
                progress=progress,
            )
    finally:
        await engine.dispose()
    print(_demo_loaded(result))
    return 0


def _demo_loaded(result: DemoResult) -> str:
    """What `tsunagu demo` says it did."""
    if result.already_loaded:
        return "The demo data is already loaded."
    groups = sum(1 for p in result.people if p.kind == "group")
    volunteers = len(result.people) - groups
    return (
        f"Loaded {groups} groups with {len(result.projects)} accepted requests and "
        f"{volunteers} volunteers. Their messages go out when the server runs (make run)."
    )


def _slack(args: argparse.Namespace) -> int:
    from pathlib import Path
    from urllib.parse import urlsplit

    from bot.slack_manifest import manifest_yaml, request_url

    url = (args.url or "").strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        # Slack only sends requests to public HTTPS addresses.
        print(
            "--url takes the public HTTPS address of this server, e.g. https://tsunagu.example.org",
            file=sys.stderr,
        )
        return 2
    text = manifest_yaml(url, args.name)
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: Slack will send events, button clicks and /tsunagu to {request_url(url)}")
    return 0


async def _office(args: argparse.Namespace, settings: Settings) -> int:
    """`tsunagu export …` and `tsunagu report …`: files for the programme office."""
    from datetime import datetime
    from pathlib import Path

    from bot.office.exports import ALL, ExportError, export
    from bot.office.report import write_report
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import upgrade

    locale = args.lang or settings.default_locale
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    try:
        if args.command == "export":
            fmt = args.format
            suffix = "zip" if args.kind == ALL and fmt == "csv" else fmt
            scope = f"-{args.programme}" if args.programme else ""
            out = Path(args.out or f"tsunagu-{args.kind}{scope}-{stamp}.{suffix}")
            result = await export(
                maker,
                args.kind,
                out,
                fmt=fmt,
                programme=args.programme,
                personal=args.personal,
                locale=locale,
                timezone=settings.timezone,
            )
            counts = ", ".join(f"{k} {n}" for k, n in result.rows.items())
            print(f"{out} ({counts})")
        else:
            out = Path(args.out or f"tsunagu-report-{args.programme}-{stamp}.xlsx")
            data = await write_report(maker, args.programme, out, locale=locale)
            print(out)
            for chart in data.charts:
                print(chart)
    except ExportError as exc:
        print(exc.text(locale), file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


async def _cases(args: argparse.Namespace, settings: Settings) -> int:
    """`tsunagu cases export|search`: the case catalogue's site and search."""
    from datetime import UTC, datetime
    from pathlib import Path

    from bot.office.case_site import write_site
    from bot.office.cases import CaseError, Cases
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import upgrade

    locale = args.lang or settings.default_locale
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    cases = Cases(make_sessionmaker(engine), timezone=settings.timezone)
    try:
        if args.action == "export":
            out = Path(args.out or "tsunagu-cases")
            published = await cases.published()
            site = write_site(published, out, timezone=settings.timezone, now=datetime.now(UTC))
            print(f"{out / 'index.html'} ({site.pages} cases), {site.json_path}")
            return 0
        found = await cases.search(
            " ".join(args.words),
            area=args.area,
            field=args.field,
            year=args.year,
            drafts=args.drafts,
            limit=args.limit,
        )
    except CaseError as exc:
        print(exc.text(locale), file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    if not found:
        print("該当する事例はありません。" if locale == "ja" else "No case matches.")
    for summary in found:
        print(summary.line(locale))
    return 0


def _server_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """serve, db, chat, programme, demo: the server and what works on its database."""
    serve = sub.add_parser("serve", help="serve the webhooks (HOST/PORT or --host/--port)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--access-log", action="store_true", help="log every request line")
    serve.add_argument(
        "--workers",
        type=int,
        choices=range(1, 65),
        metavar="N",
        help="server processes sharing the port (default TSUNAGU_WORKERS, 1)",
    )

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "check"])
    db.add_argument("revision", nargs="?")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (console channel)")
    chat.add_argument("--user", default="console-user", help="who you are (a local id)")
    chat.add_argument("--lang", choices=["ja", "en"])

    programme = sub.add_parser("programme", help="programme calendars: import a YAML file, list")
    programme.add_argument("action", choices=["import", "list"])
    programme.add_argument("file", nargs="?", help="a programme YAML (see examples/)")
    programme.add_argument(
        "--shift-to",
        metavar="DATE",
        help="move every date so the first phase falls on DATE (YYYY-MM-DD or 'today')",
    )

    demo = sub.add_parser(
        "demo", help="load demo data: the Kawasaki 2017 groups and 18 volunteers (sandbox)"
    )
    demo.add_argument(
        "--force", action="store_true", help="load even with real LINE/Slack credentials set"
    )


def _setup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """slack, line: setting up the Slack app and the LINE official account."""
    slack = sub.add_parser("slack", help="the Slack app: write its manifest")
    slack.add_argument("action", choices=["manifest"])
    slack.add_argument("--url", required=True, help="this server's public address, https://HOST")
    slack.add_argument("--name", default="Tsunagu", help="the app's name in Slack")
    slack.add_argument(
        "--out", default="slack/manifest.yml", help="where to write it (- for stdout)"
    )
    line = sub.add_parser("line", help="set up the LINE official account")
    line.add_argument("action", choices=["richmenu"], help="richmenu: create or update the menus")
    line.add_argument("--font", metavar="FILE", help="a font with Japanese glyphs for the labels")


def _office_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """export, report, cases: what a programme office shows."""
    from bot.office.exports import ALL, FORMATS, KINDS

    export = sub.add_parser("export", help="export volunteers, groups, projects, … as CSV or XLSX")
    export.add_argument("kind", choices=[*KINDS, ALL])
    export.add_argument("--programme", metavar="SLUG", help="only what one programme concerns")
    export.add_argument("--format", choices=FORMATS, default="xlsx")
    export.add_argument("--out", metavar="PATH", help="the file to write (default: a dated name)")
    export.add_argument(
        "--personal",
        action="store_true",
        help="include names and contact people (for coordinators only)",
    )
    export.add_argument("--lang", choices=["ja", "en"], help="column headers' language")

    report = sub.add_parser("report", help="a programme's impact report (XLSX and PNG charts)")
    report.add_argument("programme", metavar="PROGRAMME", help="the programme's slug")
    report.add_argument("--out", metavar="PATH", help="the workbook to write")
    report.add_argument("--lang", choices=["ja", "en"])

    cases = sub.add_parser("cases", help="the case catalogue: export the site and JSON, search")
    cases.add_argument("action", choices=["export", "search"])
    cases.add_argument("words", nargs="*", help="search: words that must all appear")
    cases.add_argument("--out", metavar="DIR", help="export: the folder (default tsunagu-cases)")
    cases.add_argument("--area", help="search: only cases in this area (e.g. 八王子市)")
    cases.add_argument("--field", help="search: only this field (e.g. 環境, environment)")
    cases.add_argument("--year", type=int, help="search: only this year")
    cases.add_argument(
        "--drafts", action="store_true", help="search: every state (for coordinators)"
    )
    cases.add_argument("--limit", type=int, default=20, help="search: at most this many")
    cases.add_argument("--lang", choices=["ja", "en"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsunagu", description="Tsunagu volunteer matching bot")
    sub = parser.add_subparsers(dest="command", required=True)
    _server_commands(sub)
    _setup_commands(sub)
    _office_commands(sub)
    return parser


def _line(args: argparse.Namespace, settings: Settings) -> int:
    if settings.sandbox_enabled or not settings.line_enabled:
        print(
            "tsunagu line richmenu needs LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN "
            "(the sandbox makes its own menus when it starts).",
            file=sys.stderr,
        )
        return 2
    # The LINE calls live in handlers/ (the core imports no SDK); like `serve`, the
    # command reaches them by name.
    richmenu = importlib.import_module("handlers.richmenu")
    return int(richmenu.run_cli(settings, font=args.font))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tsunagu` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "slack":
        return _slack(args)  # needs no settings or database
    settings = Settings()
    if args.command == "line":
        return _line(args, settings)
    if settings.sandbox_enabled and args.command != "serve":
        # The other commands work on what the sandbox server works on: its database and
        # its coordinator channel. They never call LINE or Slack, so the credentials are
        # placeholders (the server generates its own).
        settings = settings.sandboxed(*["sandbox-cli"] * 4)
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "db":
        return _db(args, settings)
    if args.command == "chat":
        return asyncio.run(_chat(args, settings))
    if args.command == "programme":
        return asyncio.run(_programme(args, settings))
    if args.command == "demo":
        return asyncio.run(_demo(args, settings))
    if args.command in ("export", "report"):
        return asyncio.run(_office(args, settings))
    if args.command == "cases":
        return asyncio.run(_cases(args, settings))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
