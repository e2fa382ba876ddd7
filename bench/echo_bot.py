"""The baseline: line-bot-sdk's documented echo bot, without a database.

Flask is not installed in this project's environment, so this follows the SDK's
``examples/aiohttp-echo`` pattern (line-bot-sdk v3): ``aiohttp.web``, ``WebhookParser``
and ``AsyncMessagingApi`` on one ``AsyncApiClient``, replying inside the webhook
handler before answering 200, on the default asyncio event loop (``asyncio.run``),
as the example does.

Two changes, both so the same load can be compared:
- besides echoing a text message, it answers a postback with its data and a follow
  with a greeting (the example skips them), so every event costs one reply, as it
  does in Tsunagu;
- ``GET /healthz`` answers 200, so the benchmark knows when it is up.

Usage: ``LINE_CHANNEL_SECRET=... LINE_CHANNEL_ACCESS_TOKEN=... LINE_API_BASE_URL=...
python bench/echo_bot.py --port 8001``; webhook at ``POST /callback``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhooks import FollowEvent, MessageEvent, PostbackEvent, TextMessageContent


class Handler:
    """The example's handler class: parse, reply, answer."""

    def __init__(self, line_bot_api: AsyncMessagingApi, parser: WebhookParser) -> None:
        self.line_bot_api = line_bot_api
        self.parser = parser

    async def echo(self, request: web.Request) -> web.Response:
        signature = request.headers.get("X-Line-Signature", "")
        body = await request.text()

        try:
            events = self.parser.parse(body, signature)
        except InvalidSignatureError:
            return web.Response(status=400, text="Invalid signature")

        for event in events:
            if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                text = event.message.text
            elif isinstance(event, PostbackEvent):
                text = event.postback.data
            elif isinstance(event, FollowEvent):
                text = "Thanks for adding me!"
            else:
                continue
            await self.line_bot_api.reply_message(
                ReplyMessageRequest(
                    reply_token=event.reply_token, messages=[TextMessage(text=text)]
                )
            )

        return web.Response(text="OK\n")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def main(host: str, port: int) -> None:
    channel_secret = os.environ["LINE_CHANNEL_SECRET"]
    configuration = Configuration(
        host=os.environ.get("LINE_API_BASE_URL", "https://api.line.me").rstrip("/"),
        access_token=os.environ["LINE_CHANNEL_ACCESS_TOKEN"],
    )
    async_api_client = AsyncApiClient(configuration)
    line_bot_api = AsyncMessagingApi(async_api_client)
    parser = WebhookParser(channel_secret)

    handler = Handler(line_bot_api, parser)

    app = web.Application()
    app.add_routes([web.post("/callback", handler.echo), web.get("/healthz", healthz)])

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner=runner, host=host, port=port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await async_api_client.close()


if __name__ == "__main__":
    arg_parser = argparse.ArgumentParser(description="line-bot-sdk echo bot (aiohttp)")
    arg_parser.add_argument("--host", default="127.0.0.1")
    arg_parser.add_argument("-p", "--port", type=int, default=8000)
    options = arg_parser.parse_args()
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"):
        if not os.environ.get(name):
            print(f"Specify {name} as environment variable.", file=sys.stderr)
            sys.exit(1)
    asyncio.run(main(options.host, options.port))
