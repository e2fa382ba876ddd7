"""The `tsunagu` command: serve, db upgrade/check/downgrade, chat."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.settings import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # the server is only needed here

    host = args.host or settings.host
    port = args.port or settings.port
    uvicorn.run(
        "handlers.asgi:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=args.access_log,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
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
    from bot.console import ConsoleChat, render
    from bot.dialogue import Dialogue
    from bot.inbox import Inbox
    from bot.profiles import EffectContext
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
    chat = ConsoleChat(inbox, user=args.user)
    print("(tsunagu chat: type your answers; a number taps a choice; Ctrl-D to quit)")
    print(render(await chat.follow()))
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "> ")
            except EOFError:
                break
            if not line.strip():
                continue
            print(render(await chat.say(line)))
    finally:
        await inbox.stop()
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tsunagu` console command."""
    parser = argparse.ArgumentParser(prog="tsunagu", description="Tsunagu volunteer matching bot")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the webhooks (HOST/PORT or --host/--port)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--access-log", action="store_true", help="log every request line")

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "check"])
    db.add_argument("revision", nargs="?")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (console channel)")
    chat.add_argument("--user", default="console-user", help="who you are (a local id)")
    chat.add_argument("--lang", choices=["ja", "en"])

    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "db":
        return _db(args, settings)
    if args.command == "chat":
        return asyncio.run(_chat(args, settings))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
