"""Open-loop load generator playing LINE: signed webhook bodies at a fixed rate.

It runs in its own process (``python bench/loadgen.py ...``; ``bench/webhook.py``
starts it). Every body is built and signed before the timed phase, so the timed
loop only schedules requests on an aiohttp session with keep-alive connections.

The schedule is open loop: request ``i`` is due at ``t0 + i / rate`` and is sent
then, however many earlier requests are still outstanding. Latencies are taken
from the due time, not from when the request actually left, so a stalled server
(or a stalled generator) cannot hide latency (no coordinated omission).

Users: ``lanes = rate * think`` people talk at once, each sending one event every
``think`` seconds, walking the volunteer sign-up (follow, role, name, area, skills,
...). When a person finishes, a new person takes the lane. The first person of
lane ``l`` gives up after ``1 + l % len(SCRIPT)`` steps, so the lanes drift out of
step and all the questions are being answered at any moment, not only follows.
Every event sequence sent is one a real person could send.

Output (``--out``): JSON with the schedule origin on the wall clock (``t0_wall``,
``time.time()`` seconds, the clock the fake LINE API stamps replies with) and one
row per request: due offset, send offset, done offset (seconds from ``t0``),
HTTP status (0 = timeout or connection error), reply token, kind.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import hmac
import itertools
import json
import math
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import line_events as le  # noqa: E402  (needs the repository on sys.path)

# The sign-up as a person taps and types it (bot/flows/welcome.py, volunteer.py).
# ``None`` in a text step means "this person's own name".
SCRIPT: tuple[tuple[str, str | None], ...] = (
    ("follow", None),
    ("postback", "f|welcome|role|c|volunteer"),
    ("text", None),
    ("text", "川崎市中原区"),
    ("postback", "f|volunteer|skills|t|accounting"),
    ("postback", "f|volunteer|skills|t|web"),
    ("postback", "f|volunteer|skills|d"),
    ("postback", "f|volunteer|occupation|c|employee"),
    ("postback", "f|volunteer|employer|s"),
    ("postback", "f|volunteer|age_band|c|30s"),
    ("postback", "f|volunteer|experience_years|c|5"),
    ("postback", "f|volunteer|hours_per_week|c|3"),
    ("postback", "f|volunteer|availability|t|weekend"),
    ("postback", "f|volunteer|availability|d"),
    ("postback", "f|volunteer|mode|c|online"),
    ("postback", "f|volunteer|interests|t|community"),
    ("postback", "f|volunteer|interests|d"),
    ("postback", "f|volunteer|consent|c|agree"),
    ("postback", "f|volunteer|~|y"),
)
NAMES = ("山田花子", "佐藤太郎", "鈴木一郎", "高橋美咲", "Alex", "田中ゆき", "伊藤健", "渡辺さくら")

# LINE's webhook client; the bot does not look at it, but it makes requests look real.
USER_AGENT = "LineBotWebhook/2.0"


@dataclass(frozen=True)
class Planned:
    """One webhook request, built and signed before the timed phase."""

    body: bytes
    signature: str
    token: str  # the reply token of its event
    kind: str


def schedule(n: int, rate: float, think: float) -> list[tuple[int, int]]:
    """Return (person, step) for each of ``n`` slots, as described in the module doc."""
    lanes = max(1, min(n, round(rate * think)))
    steps = len(SCRIPT)
    # Per lane: the person now in it and the step that person is at.
    person = list(range(lanes))
    step = [0] * lanes
    limit = [1 + lane % steps for lane in range(lanes)]  # first people give up early
    next_person = lanes
    out: list[tuple[int, int]] = []
    for i in range(n):
        lane = i % lanes
        out.append((person[lane], step[lane]))
        step[lane] += 1
        if step[lane] >= limit[lane]:
            person[lane], step[lane], limit[lane] = next_person, 0, steps
            next_person += 1
    return out


def _event(
    kind: str, value: str, user_id: str, token: str, ts: int, ids: itertools.count[int]
) -> dict[str, Any]:
    # The same fields, in the same order, as tests/line_events.py builds (checked there
    # against LINE's webhook.yml); built by hand here because validating every one of
    # tens of thousands of events would take minutes. A sample is validated below.
    event: dict[str, Any] = {
        "type": "message" if kind == "text" else kind,
        "mode": "active",
        "timestamp": ts,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": le.new_webhook_event_id(ts),
        "deliveryContext": {"isRedelivery": False},
        "replyToken": token,
    }
    if kind == "follow":
        event["follow"] = {"isUnblocked": False}
    elif kind == "text":
        event["message"] = {
            "id": str(next(ids)),
            "type": "text",
            "quoteToken": secrets.token_urlsafe(48),
            "text": value,
        }
    else:
        event["postback"] = {"data": value}
    return event


def build(
    n: int, rate: float, think: float, secret: str, *, run_id: str, base_ms: int
) -> list[Planned]:
    """Build and sign ``n`` bodies of one event each, for the slots of ``schedule``."""
    key = secret.encode("utf-8")
    ids = itertools.count(500_000_000_000_000_000 + secrets.randbelow(10**15))
    plan: list[Planned] = []
    for i, (who, step) in enumerate(schedule(n, rate, think)):
        kind, value = SCRIPT[step]
        user_id = le.new_user_id(f"{run_id}:{who}")
        if kind == "text" and value is None:
            value = f"{NAMES[who % len(NAMES)]}{who}"
        token = secrets.token_hex(16)  # LINE's reply tokens are 32 hex digits
        # The event time is the due time: strictly increasing per person (one event
        # per ``think`` seconds), which the bot relies on to order a person's events.
        ts = base_ms + math.floor(i * 1000 / rate)
        event = _event(kind, value or "", user_id, token, ts, ids)
        body = json.dumps(
            {"destination": le.BOT_USER_ID, "events": [event]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        plan.append(Planned(body, signature, token, SCRIPT[step][0]))
    return plan


def check_sample(plan: list[Planned], secret: str, count: int = 40) -> None:
    """Validate a sample of bodies against LINE's webhook.yml and the SDK's parser."""
    from linebot.v3 import WebhookParser
    from linebot.v3.webhooks import FollowEvent, MessageEvent, PostbackEvent

    from tests.fakes.openapi import validate_callback

    parser = WebhookParser(secret)
    step = max(1, len(plan) // count)
    for item in plan[::step][:count]:
        doc = json.loads(item.body)
        errors = validate_callback(doc)
        if errors:
            raise SystemExit(f"loadgen: built a body webhook.yml rejects: {errors}")
        if le.sign(item.body, secret) != item.signature:
            raise SystemExit("loadgen: signature mismatch")
        events = parser.parse(item.body.decode("utf-8"), item.signature)
        known = (FollowEvent, MessageEvent, PostbackEvent)
        if len(events) != 1 or not isinstance(events[0], known):
            raise SystemExit(f"loadgen: the SDK does not recognise {doc['events'][0]['type']}")


def wall_offset() -> float:
    """Return time.time() - time.monotonic(), from the tightest of a few samples."""
    best: tuple[float, float] | None = None
    for _ in range(50):
        a = time.monotonic()
        w = time.time()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) / 2)
    assert best is not None
    return best[1]


async def run(
    plan: list[Planned],
    url: str,
    rate: float,
    *,
    connections: int,
    timeout: float,
    lead: float = 0.3,
) -> dict[str, Any]:
    """Send the plan open-loop at ``rate``; return the rows described in the module doc."""
    n = len(plan)
    sent = [math.nan] * n
    done = [math.nan] * n
    status = [0] * n
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=client_timeout,
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding",),
    ) as session:
        # Open the connections before the clock starts, as LINE keeps them open too.
        warm = [session.get(url.rsplit("/", 1)[0] + "/healthz") for _ in range(min(8, n))]
        for response in await asyncio.gather(*warm, return_exceptions=True):
            if isinstance(response, aiohttp.ClientResponse):
                response.release()

        t0 = loop.time() + lead
        offset = wall_offset() + (time.monotonic() - loop.time())  # loop.time() is monotonic

        async def send(i: int) -> None:
            item = plan[i]
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "X-Line-Signature": item.signature,
                "User-Agent": USER_AGENT,
            }
            sent[i] = loop.time() - t0
            try:
                async with session.post(url, data=item.body, headers=headers) as response:
                    await response.read()
                    status[i] = response.status
            except (aiohttp.ClientError, TimeoutError, OSError):
                status[i] = 0
            done[i] = loop.time() - t0

        i = 0
        end = t0 + n / rate + timeout + 5  # a hard bound on the whole loop
        while i < n and loop.time() < end:
            now = loop.time()
            due = t0 + i / rate
            if due > now:
                await asyncio.sleep(due - now)
                continue
            # Everything due by now goes out in this tick (never skipped, never delayed
            # by outstanding responses).
            while i < n and t0 + i / rate <= now:
                task = asyncio.create_task(send(i))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1
        if pending:
            await asyncio.wait(list(pending), timeout=timeout + 5)
        for task in list(pending):
            task.cancel()
    return {
        "t0_wall": t0 + offset,
        "rate": rate,
        "due": [round(k / rate, 6) for k in range(n)],
        "sent": [round(x, 6) for x in sent],
        "done": [round(x, 6) for x in done],
        "status": status,
        "tokens": [p.token for p in plan],
        "kinds": [p.kind for p in plan],
        "scheduled": i,
    }


def _use_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def main(argv: list[str] | None = None) -> int:
    """Build the bodies, print ``BUILT``, wait for a line on stdin if asked, then run."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="webhook URL on 127.0.0.1")
    p.add_argument("--secret", required=True, help="channel secret to sign with")
    p.add_argument("--rate", type=float, required=True, help="events per second")
    p.add_argument("--seconds", type=float, required=True, help="warm-up plus measured time")
    p.add_argument("--think", type=float, default=1.0, help="seconds between a person's events")
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument("--run-id", default=secrets.token_hex(4), help="makes user ids unique")
    p.add_argument("--out", required=True, help="where to write the JSON result")
    p.add_argument("--wait-go", action="store_true", help="read a line on stdin before sending")
    args = p.parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        p.error("--url must be on 127.0.0.1")
    if args.rate <= 0 or args.seconds <= 0:
        p.error("--rate and --seconds must be positive")

    n = math.ceil(args.rate * args.seconds)
    started = time.perf_counter()
    # Event times start a little ahead, where the timed phase will roughly begin.
    plan = build(
        n,
        args.rate,
        args.think,
        args.secret,
        run_id=args.run_id,
        base_ms=int(time.time() * 1000) + 1000,
    )
    check_sample(plan, args.secret)
    people = len({who for who, _ in schedule(n, args.rate, args.think)})
    loop_name = _use_uvloop()
    print(
        f"BUILT {n} bodies for {people} people in {time.perf_counter() - started:.1f}s "
        f"({loop_name})",
        flush=True,
    )
    if args.wait_go:
        sys.stdin.readline()
    # No cyclic GC pauses in the timed phase: the plan is frozen out of the collector's
    # view and the few cycles aiohttp makes wait until the run is over.
    gc.collect()
    gc.freeze()
    gc.disable()
    cpu0 = os.times()
    result = asyncio.run(
        run(plan, args.url, args.rate, connections=args.connections, timeout=args.timeout)
    )
    cpu1 = os.times()
    gc.enable()
    result["people"] = people
    result["cpu_s"] = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(result, separators=(",", ":")))
    tmp.replace(args.out)
    with contextlib.suppress(BrokenPipeError):
        print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
