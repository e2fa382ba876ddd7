"""CPU time per webhook event, before and after, without the HTTP server or the network.

    python bench/webhook_cpu.py --baseline-ref main            # working tree vs main
    python bench/webhook_cpu.py --events 3000 --rate 400 --rounds 3

Each measurement is one child process that builds the real ASGI app (handlers/asgi.py,
fresh SQLite file), calls it directly with the load generator's signed webhook bodies
(bench/loadgen.py: people walking the sign-up) at a fixed rate, and waits until the
fake LINE API (tests/fakes/line_api.py, another process) has every reply. It prints
the child's CPU time (all its threads: webhook, inbox, aiosqlite, replies) per event
over the measured events, after a warm-up. uvicorn's HTTP parsing is left out, so
this isolates Tsunagu's own cost per event; bench/webhook.py measures the whole.

The machine is shared and noisy: the working tree and the baseline are measured
alternately, and the lowest of the rounds is the figure to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SECRET = "bench-channel-secret-" + "5a" * 8
TOKEN = "bench-channel-access-token"


def _fake() -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "tests.fakes.line_api", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--token", TOKEN, "--any-reply-token", "--any-profile", "--no-validate"]
    proc = subprocess.Popen([*argv, "--no-record"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, line.split()[1]
    raise RuntimeError("the fake LINE API did not start")


def _replies(url: str) -> int:
    with urllib.request.urlopen(url + "/__fake/stats", timeout=30) as response:
        return int(json.load(response).get("replies", 0))


async def _child(args: argparse.Namespace) -> None:
    """Run inside the measured process: serve the app in-process and drive it."""
    sys.path.insert(0, str(BENCH))
    import loadgen  # the same bodies as bench/webhook.py sends

    fake, url = _fake()
    try:
        os.environ.update(
            LINE_CHANNEL_SECRET=SECRET,
            LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
            LINE_API_BASE_URL=url,
            TSUNAGU_LOG_LEVEL="WARNING",
            DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/tsunagu.sqlite3",
        )
        from handlers.asgi import create_app

        app = create_app()
        total = args.warmup + args.events
        plan = loadgen.build(
            total, args.rate, 1.0, SECRET, run_id="cpu", base_ms=int(time.time() * 1000)
        )
        statuses: list[int] = []

        async def call(item: loadgen.Planned) -> None:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/line/webhook",
                "raw_path": b"/line/webhook",
                "query_string": b"",
                "root_path": "",
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-line-signature", item.signature.encode()),
                    (b"content-length", str(len(item.body)).encode()),
                ],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 2),
            }
            messages = [{"type": "http.request", "body": item.body, "more_body": False}]

            async def receive() -> dict[str, object]:
                if messages:
                    return messages.pop()
                await asyncio.Event().wait()  # the client never disconnects
                return {}

            async def send(message: dict[str, object]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(int(message["status"]))  # type: ignore[call-overload]

            await app(scope, receive, send)

        async def drive(items: list[loadgen.Planned]) -> None:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            tasks = []
            for i, item in enumerate(items):
                delay = t0 + i / args.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(call(item)))
            await asyncio.gather(*tasks)

        async with app.router.lifespan_context(app):
            await drive(plan[: args.warmup])
            await asyncio.sleep(1.0)
            cpu0 = time.process_time()
            await drive(plan[args.warmup :])
            polling = 0.0  # the stats answer is large: its parsing is not the app's cost
            for _ in range(240):
                await asyncio.sleep(0.5)
                p0 = time.process_time()
                done = _replies(url)
                polling += time.process_time() - p0
                if done >= total:
                    break
            cpu = time.process_time() - cpu0 - polling
        bad = sum(s != 200 for s in statuses)
        print(json.dumps({"ms_per_event": 1000 * cpu / args.events, "non_200": bad}))
    finally:
        fake.terminate()


def _measure(root: Path, args: argparse.Namespace) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(REPO)]))
    for name in list(env):
        if name.startswith(("LINE_", "SLACK_", "TSUNAGU_", "DATABASE_URL")):
            del env[name]
    argv = [sys.executable, str(BENCH / "webhook_cpu.py"), "--child"]
    argv += ["--events", str(args.events), "--warmup", str(args.warmup), "--rate", str(args.rate)]
    out = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["non_200"]:
        raise RuntimeError(f"{result['non_200']} webhooks were not answered 200")
    return float(result["ms_per_event"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=3000, help="measured events per run")
    p.add_argument("--warmup", type=int, default=1000, help="events before measuring")
    p.add_argument("--rate", type=float, default=400.0, help="events/s offered")
    p.add_argument("--rounds", type=int, default=3, help="runs of each tree")
    p.add_argument("--baseline-ref", default=None, help="git commit to compare with")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        try:
            import uvloop  # as uvicorn uses it when installed

            uvloop.run(_child(args))
        except ImportError:
            asyncio.run(_child(args))
        return 0
    trees = {"working tree": REPO}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline_ref:
            root = Path(tmp) / "baseline"
            root.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", "--format=tar", args.baseline_ref],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
            trees[args.baseline_ref] = root
        figures: dict[str, list[float]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            for name, root in trees.items():
                figures[name].append(_measure(root, args))
                print(f"round {round_ + 1}: {name}: {figures[name][-1]:.3f} ms CPU/event")
    print(f"\nCPU per event ({args.events} events at {args.rate:g}/s, lowest of {args.rounds}):")
    for name, values in figures.items():
        print(f"  {name:>14}: {min(values):.3f} ms  (all: {', '.join(f'{v:.3f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
