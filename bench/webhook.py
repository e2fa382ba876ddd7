"""Webhook benchmark: Tsunagu beside line-bot-sdk's echo bot, under open-loop load.

Processes, all on 127.0.0.1:
- the fake LINE Messaging API (``python -m tests.fakes.line_api``), started once;
- the system under test, started fresh for every run: ``tsunagu serve`` with a new
  SQLite file, or the SDK echo bot (``bench/echo_bot.py``, no database);
- the load generator (``bench/loadgen.py``), which plays LINE: it builds and signs
  all bodies first, then sends them at a fixed rate without waiting for answers.

Per run it reports events acknowledged with 200 per second over the measured
window, errors, the time from each event's due time to its 200 and to its reply
reaching the fake LINE API, and the share of replies that arrived. "Held" means
zero errors, at least 99 % of replies arrived, and ack p99 within 100 ms.

Examples::

    python bench/webhook.py --quick
    python bench/webhook.py --rates 250,500,1000
    python bench/webhook.py --rates 250,500,1000 --find-max
    python bench/webhook.py --rates 1000 --systems tsunagu --profile   # needs py-spy
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HOST = "127.0.0.1"
SECRET = "bench-channel-secret-" + "5a" * 8
TOKEN = "bench-channel-access-token"
SYSTEMS = ("tsunagu", "workers", "before", "echo")
# "workers" is Tsunagu with TSUNAGU_WORKERS=--workers; "before" is Tsunagu served from
# --baseline-ref (labels set in parse_args).
LABELS = {
    "tsunagu": "tsunagu",
    "workers": "tsunagu x2",
    "before": "tsunagu@base",
    "echo": "echo (SDK)",
}
TSUNAGU_SYSTEMS = ("tsunagu", "workers")

HELD_ACK_P99_S = 0.100
HELD_REPLIES = 0.99
TARGET_RATE = 1000.0
TARGET_P99_RATE = 500.0

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes


class Proc:
    """A child process we started; stdout lines can be awaited with a deadline."""

    registry: list[Proc] = []  # noqa: RUF012  (every child, for cleanup)

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        logdir: Path,
        stdin: bool = False,
        read_stdout: bool = True,
    ) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log: TextIO = self.log_path.open("w", encoding="utf-8")
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if read_stdout else self._log,
            stderr=self._log,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # Ctrl-C in the terminal reaches us, not the children
        )
        Proc.registry.append(self)
        self._lines: queue.Queue[str | None] = queue.Queue()
        if read_stdout:
            threading.Thread(target=self._pump, daemon=True, name=f"pump-{name}").start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """Return the first stdout line starting with ``prefix``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.name}: no {prefix!r} within {timeout:.0f}s")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(
                    f"{self.name} ended (exit {self.popen.wait()}) before {prefix!r}; "
                    f"log:\n{self.tail()}"
                )
            if line.startswith(prefix):
                return line

    def send_line(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process (all its threads) and of its live
        child processes (a server's workers) so far."""
        total = _cpu_of(self.pid)
        if math.isnan(total):
            return total
        # A child that ended between listing and reading counts nothing.
        return total + sum(c for c in map(_cpu_of, _children(self.pid)) if not math.isnan(c))

    def tail(self, lines: int = 25) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; only this process."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) did not stop in {grace:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(5)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()
        if self in Proc.registry:
            Proc.registry.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for proc in reversed(list(cls.registry)):
            proc.stop(grace=10.0)


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    """Live descendants of a process (uvicorn's worker processes and their helpers)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            found = [
                int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            ]
        except (OSError, ValueError):
            found = []
        out += found
        todo += found
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(url: str, *, method: str = "GET", timeout: float = 10.0) -> Any:
    assert url.startswith(f"http://{HOST}:"), url
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_healthy(proc: Proc, base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early; log:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name}: /healthz not 200 within {timeout:.0f}s; log:\n{proc.tail()}")


def venv_bin(name: str) -> str:
    """A console script installed next to this interpreter (else on PATH)."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"cannot find {name!r} next to {sys.executable} or on PATH")
    return found


# ------------------------------------------------------------------ the systems


@dataclass
class Fake:
    proc: Proc
    url: str

    @classmethod
    def start(cls, workdir: Path, latency: float) -> Fake:
        argv = [
            sys.executable,
            "-m",
            "tests.fakes.line_api",
            "--host",
            HOST,
            "--port",
            "0",
            "--token",
            TOKEN,
            "--latency",
            str(latency),
            "--any-reply-token",  # the load generator invents reply tokens
            "--any-profile",  # a follow makes Tsunagu ask for the person's language
            "--no-validate",  # LINE's limits are still checked
            "--no-record",  # counts and reply times only: memory stays flat
        ]
        proc = Proc("fake-line-api", argv, cwd=REPO, logdir=workdir)
        url = proc.expect("READY ", 60).split()[1]
        if not url.startswith(f"http://{HOST}:"):
            raise RuntimeError(f"fake LINE API is not on {HOST}: {url}")
        return cls(proc, url)

    def clear(self) -> None:
        http_json(f"{self.url}/__fake/clear", method="POST")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = http_json(f"{self.url}/__fake/stats", timeout=30)
        return stats


@dataclass
class Target:
    system: str
    proc: Proc
    base: str
    webhook: str


def start_target(
    system: str,
    fake: Fake,
    workdir: Path,
    run_name: str,
    tsunagu_cmd: tuple[str, ...] = (),
    app_root: Path | None = None,
    workers: int = 2,
) -> Target:
    port = free_port()
    base = f"http://{HOST}:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LINE_", "SLACK_", "TSUNAGU_", "DATABASE_URL"))
    }
    env.update(
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
        LINE_API_BASE_URL=fake.url,
        TSUNAGU_LOG_LEVEL="WARNING",
    )
    rundir = workdir / run_name
    rundir.mkdir()
    if system in (*TSUNAGU_SYSTEMS, "before"):
        env["TSUNAGU_WORKERS"] = str(workers if system == "workers" else 1)
        env["DATABASE_URL"] = f"sqlite:///{rundir / 'tsunagu.sqlite3'}"
        env["HOST"] = HOST
        if app_root is not None:
            # A source tree (e.g. a git archive of a commit) ahead of the editable install.
            env["PYTHONPATH"] = os.pathsep.join(
                [str(app_root), *filter(None, [env.get("PYTHONPATH")])]
            )
        # The command moved from bot/cli.py to handlers/cli.py (issue #12): older trees
        # are run as they were.
        module = (
            "handlers.cli"
            if app_root and (app_root / "handlers" / "cli.py").exists()
            else "bot.cli"
        )
        default = (sys.executable, "-m", module) if app_root else (venv_bin("tsunagu"),)
        command = tsunagu_cmd or default
        argv = [*command, "serve", "--host", HOST, "--port", str(port)]
        path = "/line/webhook"
    elif system == "echo":
        argv = [sys.executable, str(BENCH / "echo_bot.py"), "--host", HOST, "--port", str(port)]
        path = "/callback"
    else:
        raise ValueError(system)
    # The run's folder as working directory: no stray .env is read.
    proc = Proc(system, argv, env=env, cwd=rundir, logdir=rundir, read_stdout=False)
    wait_healthy(proc, base)
    return Target(system, proc, base, base + path)


def export_ref(ref: str, workdir: Path) -> Path:
    """Extract the project at git ``ref`` into the work folder; return the folder."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    root = workdir / f"src-{commit[:10]}"
    root.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, timeout=60, check=True)
    log(f"serving Tsunagu from {ref} = {commit[:10]} ({root})")
    return root


# ------------------------------------------------------------------ one run


@dataclass
class Result:
    system: str
    rate: float
    duration: float
    people: int = 0
    sent: int = 0
    eps: float = 0.0  # 200s completed per second within the window
    replies_per_s: float = 0.0
    errors: int = 0  # in the window: non-200 and timeouts
    errors_total: int = 0  # whole run, warm-up included
    statuses: dict[str, int] = field(default_factory=dict)
    ack_p50: float = math.nan
    ack_p99: float = math.nan
    ack_max: float = math.nan
    reply_p50: float = math.nan
    reply_p99: float = math.nan
    replies_share: float = math.nan
    api_errors: int = 0  # requests the fake LINE API rejected
    api_error_reasons: list[str] = field(default_factory=list)
    gen_lag_p99: float = math.nan
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core in the window
    app_log_errors: int = 0
    note: str = ""

    @property
    def held(self) -> bool:
        return (
            self.sent > 0
            and self.errors_total == 0
            and self.replies_share >= HELD_REPLIES
            and self.ack_p99 <= HELD_ACK_P99_S
        )


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[rank]


def analyse(
    system: str,
    rate: float,
    warmup: float,
    duration: float,
    gen: dict[str, Any],
    stats: dict[str, Any],
) -> Result:
    """Turn the generator's rows and the fake's reply times into one Result."""
    res = Result(system, rate, duration, people=int(gen.get("people", 0)))
    lo, hi = warmup, warmup + duration
    due, sent, done, status = gen["due"], gen["sent"], gen["done"], gen["status"]
    tokens, t0 = gen["tokens"], float(gen["t0_wall"])
    window = [i for i in range(len(due)) if lo <= due[i] < hi]
    res.sent = len(window)
    res.statuses = dict(Counter(str(status[i] or "timeout/conn") for i in window))
    res.errors = sum(1 for i in window if status[i] != 200)
    res.errors_total = sum(1 for s in status if s != 200)
    res.eps = sum(1 for i, s in enumerate(status) if s == 200 and lo <= done[i] < hi) / duration
    ack = sorted(done[i] - due[i] if status[i] == 200 else math.inf for i in window)
    res.ack_p50, res.ack_p99 = pct(ack, 0.50), pct(ack, 0.99)
    res.ack_max = ack[-1] if ack else math.nan
    lag = sorted(sent[i] - due[i] for i in window if not math.isnan(sent[i]))
    res.gen_lag_p99 = pct(lag, 0.99)

    received = {r["replyToken"]: float(r["receivedAt"]) - t0 for r in stats.get("replyTimes", [])}
    res.replies_per_s = sum(1 for t in received.values() if lo <= t < hi) / duration
    expected = [i for i in window if status[i] == 200]
    reply = sorted(
        received[tokens[i]] - due[i] if tokens[i] in received else math.inf for i in expected
    )
    arrived = sum(1 for x in reply if x != math.inf)
    res.replies_share = arrived / len(expected) if expected else math.nan
    res.reply_p50, res.reply_p99 = pct(reply, 0.50), pct(reply, 0.99)
    res.api_errors = int(stats.get("errors", 0))
    res.api_error_reasons = sorted(
        {str(e.get("reason")) for e in stats.get("recentErrors", []) if e.get("reason")}
    )
    return res


def count_log_errors(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "ERROR" in line or line.startswith("Traceback"))


def cpu_sampler(
    procs: dict[str, Proc], at: list[float], out: dict[str, list[float]]
) -> threading.Thread:
    """Sample the processes' CPU seconds at the given wall-clock times, in a thread."""

    def work() -> None:
        for when in at:
            delay = when - time.time()
            if delay > 0:
                time.sleep(min(delay, 600))
            for name, proc in procs.items():
                out.setdefault(name, []).append(proc.cpu_seconds())

    thread = threading.Thread(target=work, daemon=True, name="cpu-sampler")
    thread.start()
    return thread


def wait_replies(fake: Fake, expected: int, *, idle: float, bound: float) -> dict[str, Any]:
    """Poll the fake until ``expected`` replies arrived, none came for ``idle`` s, or ``bound``."""
    deadline = time.monotonic() + bound
    last_count, last_change = -1, time.monotonic()
    stats = fake.stats()
    while True:
        count = int(stats.get("replies", 0))
        if count >= expected:
            return stats
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change >= idle or now >= deadline:
            return stats
        time.sleep(0.5)
        stats = fake.stats()


@dataclass
class Options:
    warmup: float
    duration: float
    think: float
    connections: int
    timeout: float
    reply_idle: float
    reply_wait: float
    keep: bool
    tsunagu_cmd: tuple[str, ...] = ()
    app_root: Path | None = None
    base_root: Path | None = None
    workers: int = 2


def one_run(
    system: str,
    rate: float,
    fake: Fake,
    workdir: Path,
    opt: Options,
    *,
    profile: Path | None = None,
    py_spy_args: tuple[str, ...] = (),
) -> Result:
    """Start the system fresh, load it at ``rate``, measure, stop it."""
    run_name = f"{system}-{rate:g}-{secrets.token_hex(2)}"
    fake.clear()
    if system == "before":
        target = start_target(system, fake, workdir, run_name, (), opt.base_root)
    else:
        target = start_target(
            system, fake, workdir, run_name, opt.tsunagu_cmd, opt.app_root, opt.workers
        )
    gen_proc: Proc | None = None
    spy: Proc | None = None
    try:
        out_path = workdir / run_name / "loadgen.json"
        seconds = opt.warmup + opt.duration
        gen_proc = Proc(
            f"loadgen-{run_name}",
            [
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--url",
                target.webhook,
                "--secret",
                SECRET,
                "--rate",
                f"{rate:g}",
                "--seconds",
                f"{seconds:g}",
                "--think",
                f"{opt.think:g}",
                "--connections",
                str(opt.connections),
                "--timeout",
                f"{opt.timeout:g}",
                "--run-id",
                run_name,
                "--out",
                str(out_path),
                "--wait-go",
            ],
            cwd=REPO,
            logdir=workdir / run_name,
            stdin=True,
        )
        built = gen_proc.expect("BUILT", 300)
        log(f"{LABELS[system]} @ {rate:g}/s: {built.removeprefix('BUILT ')}")
        if profile is not None:
            spy = Proc(
                f"py-spy-{run_name}",
                [
                    venv_bin("py-spy"),
                    "record",
                    "--pid",
                    str(target.proc.pid),
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--duration",
                    f"{math.ceil(seconds) + 1}",
                    "--output",
                    str(profile),
                    *py_spy_args,
                ],
                logdir=workdir / run_name,
                read_stdout=False,
            )
            time.sleep(1.0)  # let py-spy attach before the load starts
        go_wall = time.time()
        gen_proc.send_line("go")
        # The generator starts its clock ~0.3 s after "go" (plus opening connections);
        # sample CPU over the measured window.
        w0 = go_wall + 0.35 + opt.warmup
        samples: dict[str, list[float]] = {}
        sampler = cpu_sampler(
            {"app": target.proc, "fake": fake.proc, "loadgen": gen_proc},
            [w0, w0 + opt.duration],
            samples,
        )
        gen_proc.expect("DONE", seconds + opt.timeout + 60)
        gen: dict[str, Any] = json.loads(out_path.read_text())
        expected = sum(1 for s in gen["status"] if s == 200)
        stats = wait_replies(fake, expected, idle=opt.reply_idle, bound=opt.reply_wait)
        sampler.join(timeout=5)
        res = analyse(system, rate, opt.warmup, opt.duration, gen, stats)
        res.cpu = {
            name: (v[1] - v[0]) / opt.duration
            for name, v in samples.items()
            if len(v) == 2 and not math.isnan(v[0] + v[1])
        }
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.popen.wait(seconds + 30)
    finally:
        if gen_proc is not None:
            gen_proc.stop(grace=5)
        if spy is not None:
            spy.stop(grace=10)
        target.proc.stop(grace=30)
    res.app_log_errors = count_log_errors(target.proc.log_path)
    if res.app_log_errors:
        res.note = f"{res.app_log_errors} error lines in {target.proc.log_path}"
    if not opt.keep:
        for name in ("tsunagu.sqlite3", "tsunagu.sqlite3-wal", "tsunagu.sqlite3-shm"):
            with contextlib.suppress(OSError):
                (workdir / run_name / name).unlink()
        with contextlib.suppress(OSError):
            (workdir / run_name / "loadgen.json").unlink()
    return res


# ------------------------------------------------------------------ reporting


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds == math.inf:
        return "lost"
    value = seconds * 1000
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def ms_u(seconds: float) -> str:
    text = ms(seconds)
    return text if text in ("lost", "-") else f"{text} ms"


def table(results: list[Result]) -> str:
    head = (
        "rate/s",
        "system",
        "events/s",
        "ack p50 ms",
        "ack p99 ms",
        "reply p50 ms",
        "reply p99 ms",
        "replies %",
        "errors",
        "held",
    )
    rows = [head]
    for r in _ordered(results):
        errors = str(r.errors)
        if r.errors_total != r.errors:
            errors += f" (+{r.errors_total - r.errors} warm-up)"
        if r.api_errors:
            errors += f", api {r.api_errors}"
        share = "-" if math.isnan(r.replies_share) else f"{100 * r.replies_share:.1f}"
        rows.append(
            (
                f"{r.rate:g}",
                LABELS[r.system],
                f"{r.eps:,.0f}",
                ms(r.ack_p50),
                ms(r.ack_p99),
                ms(r.reply_p50),
                ms(r.reply_p99),
                share,
                errors,
                "yes" if r.held else "no",
            )
        )
    return _grid(rows, right=(0, 2, 3, 4, 5, 6, 7))


def cpu_table(results: list[Result]) -> str:
    head = ("rate/s", "system", "app CPU", "fake CPU", "loadgen CPU", "replies/s", "gen lag p99")
    rows = [head]
    for r in _ordered(results):
        rows.append(
            (
                f"{r.rate:g}",
                LABELS[r.system],
                *(
                    f"{100 * r.cpu[k]:.0f}%" if k in r.cpu else "-"
                    for k in ("app", "fake", "loadgen")
                ),
                f"{r.replies_per_s:,.0f}",
                ms_u(r.gen_lag_p99),
            )
        )
    return _grid(rows, right=(0, 2, 3, 4, 5, 6))


def _ordered(results: list[Result]) -> list[Result]:
    return sorted(results, key=lambda r: (r.rate, SYSTEMS.index(r.system)))


def _grid(rows: list[tuple[str, ...]], right: tuple[int, ...]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[c]) if c in right else cell.ljust(widths[c])
            for c, cell in enumerate(row)
        ]
        return "| " + " | ".join(cells) + " |"

    sep = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if c in right else "-" * (w + 2) for c, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([fmt(rows[0]), sep, *(fmt(r) for r in rows[1:])])


def best_held(results: list[Result], system: str) -> float | None:
    rates = [r.rate for r in results if r.system == system and r.held]
    return max(rates) if rates else None


def targets(results: list[Result], maxima: dict[str, float | None]) -> list[str]:
    """The issue's three targets, each judged on every Tsunagu configuration that ran."""
    lines = []
    ran = {r.system for r in results}
    mine = [sys_ for sys_ in TSUNAGU_SYSTEMS if sys_ in ran]
    if not mine:
        return ["[NOT RUN] the targets: no Tsunagu system ran"]
    at_target = [r for r in results if r.system in mine and r.rate >= TARGET_RATE]
    if at_target:
        held_at = [r for r in at_target if r.held]
        top = max(held_at or at_target, key=lambda r: (r.rate, r.eps))
        detail = (
            f"{LABELS[top.system]}: {top.eps:,.0f} events/s acknowledged at {top.rate:g}/s "
            f"offered, ack p99 {ms_u(top.ack_p99)}, replies {100 * top.replies_share:.1f}%"
        )
        for system in mine:
            held = best_held(results, system)
            detail += f"; {LABELS[system]} held up to {_rate(held)}"
        lines.append(
            f"[{'MET' if held_at else 'NOT MET'}] at least 1,000 events/s sustained: {detail}"
        )
    else:
        lines.append("[NOT RUN] at least 1,000 events/s sustained: no rate >= 1000 was tried")

    for system in mine:
        at_500 = [r for r in results if r.system == system and r.rate == TARGET_P99_RATE]
        if at_500:
            r = at_500[-1]
            ok = r.ack_p99 <= HELD_ACK_P99_S and r.errors_total == 0
            lines.append(
                f"[{'MET' if ok else 'NOT MET'}] p99 ack at most 100 ms at 500 events/s "
                f"({LABELS[system]}): p99 {ms_u(r.ack_p99)} (p50 {ms_u(r.ack_p50)}, "
                f"max {ms_u(r.ack_max)}), {r.errors_total} errors"
            )
        else:
            lines.append(
                f"[NOT RUN] p99 ack at most 100 ms at 500 events/s ({LABELS[system]}): "
                "rate 500 was not tried"
            )

    source = "max search" if maxima.get("searched") else "highest held rate among those tried"
    if "echo" not in ran:
        lines.append("[NOT RUN] throughput at least that of the echo bot: the echo bot did not run")
        return lines
    e_max = maxima.get("echo")
    for system in mine:
        t_max = maxima.get(system)
        label = LABELS[system]
        if t_max is None and e_max is None:
            lines.append(
                f"[UNKNOWN] throughput at least that of the echo bot ({label}): neither held "
                "any rate tried"
            )
            continue
        ok = (t_max or 0) >= (e_max or 0)
        verdict = "MET" if ok else "NOT MET"
        tried = {r.rate for r in results}
        if ok and t_max == e_max and t_max == max(tried) and not maxima.get("searched"):
            verdict = "MET (both held every rate tried; --find-max separates them)"
        lines.append(
            f"[{verdict}] throughput at least that of the echo bot ({source}): "
            f"{label} {_rate(t_max)}, echo {_rate(e_max)}"
        )
    return lines


def _rate(value: float | None) -> str:
    return "none held" if value is None else f"{value:g}/s"


# ------------------------------------------------------------------ profile summary


def summarise_profile(path: Path, top: int = 20) -> str:
    """Top functions by own (self) and total time from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        own[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            total[name] += count
    if not samples:
        return f"(no samples in {path})"
    lines = [f"{samples} samples of busy threads (py-spy leaves out idle ones) from {path}"]
    lines.append(f"\nTop {top} by own time:")
    for name, count in own.most_common(top):
        lines.append(f"  {100 * count / samples:5.1f}%  {name}")
    lines.append(f"\nTop {top} by total time (inclusive):")
    for name, count in total.most_common(top):
        lines.append(f"  {100 * count / samples:5.1f}%  {name}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    # "func (/venv/lib/python3.11/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py)":
    # one entry per function, whatever line it was on.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Tsunagu webhook benchmark beside the line-bot-sdk echo bot",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--rates", default="250,500,1000", help="events/s to step through")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per rate")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    p.add_argument(
        "--systems",
        default="tsunagu,workers,echo",
        help="comma list of tsunagu (one process, the default), workers (TSUNAGU_WORKERS="
        "--workers), echo",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="worker processes of the 'workers' system"
    )
    p.add_argument(
        "--baseline-ref",
        default=None,
        help="also serve Tsunagu from this git commit (system 'before'), in the same run, "
        "e.g. main: before/after figures measured side by side",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: one low rate, 3 s each")
    p.add_argument("--latency", type=float, default=0.0, help="fake LINE API latency, seconds")
    p.add_argument("--think", type=float, default=1.0, help="seconds between a person's events")
    p.add_argument("--connections", type=int, default=256, help="generator's keep-alive limit")
    p.add_argument("--timeout", type=float, default=10.0, help="per webhook request, seconds")
    p.add_argument("--reply-wait", type=float, default=30.0, help="max wait for replies, s")
    p.add_argument("--reply-idle", type=float, default=3.0, help="stop waiting after no reply, s")
    p.add_argument("--find-max", action="store_true", help="search each system's max held rate")
    p.add_argument("--max-probes", type=int, default=6, help="runs per system for --find-max")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after the table, one more tsunagu run at --profile-rate under py-spy",
    )
    p.add_argument("--profile-rate", type=float, default=1000.0)
    p.add_argument(
        "--py-spy-args",
        default="",
        help="extra py-spy record options, e.g. '--gil' (only the thread holding the GIL)",
    )
    p.add_argument(
        "--tsunagu-cmd",
        default="",
        help="command to run instead of the venv's tsunagu ('serve --host H --port P' is "
        "appended), e.g. to try a patched build; default: tsunagu next to this python",
    )
    p.add_argument(
        "--app-ref",
        help="serve Tsunagu from this git commit (a `git archive` into the work folder) "
        "instead of the working tree, e.g. HEAD while the tree is being edited",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases)")
    p.add_argument("--json", help="also write all results to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.rates, args.duration, args.warmup = "200", 3.0, 1.0
        args.reply_wait = min(args.reply_wait, 15.0)
    try:
        args.rate_list = [float(x) for x in args.rates.split(",") if x.strip()]
    except ValueError:
        p.error("--rates must be numbers separated by commas")
    args.system_list = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not args.rate_list or any(r <= 0 or r > 20_000 for r in args.rate_list):
        p.error("--rates must be between 0 and 20000")
    if args.baseline_ref and "before" not in args.system_list:
        args.system_list.insert(1 if "tsunagu" in args.system_list else 0, "before")
    if not args.system_list or any(s not in SYSTEMS for s in args.system_list):
        p.error(f"--systems must be among {', '.join(SYSTEMS)}")
    if "before" in args.system_list and not args.baseline_ref:
        p.error("system 'before' needs --baseline-ref")
    if args.baseline_ref:
        LABELS["before"] = f"tsunagu@{args.baseline_ref}"
    if not 1 <= args.workers <= 64:
        p.error("--workers must be between 1 and 64")
    LABELS["workers"] = f"tsunagu x{args.workers}"
    if args.duration <= 0 or args.duration > 600 or args.warmup < 0 or args.warmup > 120:
        p.error("--duration must be in (0, 600] and --warmup in [0, 120]")
    return args


def search_max(
    system: str, results: list[Result], run: Callable[[float], Result], probes: int
) -> float | None:
    """Raise then bisect the rate until held/not-held are within 10 %, in at most ``probes``."""
    mine = [r for r in results if r.system == system]
    held = [r.rate for r in mine if r.held]
    lo = max(held) if held else None
    failed = [r.rate for r in mine if not r.held and (lo is None or r.rate > lo)]
    hi = min(failed) if failed else None
    for _ in range(max(0, probes)):
        if lo is not None and hi is not None and hi / lo <= 1.1:
            break
        if lo is None:
            rate = (hi or 200.0) / 2
        elif hi is None:
            rate = lo * 1.5
        else:
            rate = math.sqrt(lo * hi)
        rate = float(max(10, round(rate / 10) * 10))
        if rate in (lo, hi):
            break
        res = run(rate)
        results.append(res)
        if res.held:
            lo = rate
        else:
            hi = rate
        log(f"  search {LABELS[system]}: held up to {_rate(lo)}, not held at {_rate(hi)}")
    return lo


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        Proc.stop_all()
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    workdir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    opt = Options(
        warmup=args.warmup,
        duration=args.duration,
        think=args.think,
        connections=args.connections,
        timeout=args.timeout,
        reply_idle=args.reply_idle,
        reply_wait=args.reply_wait,
        keep=args.keep,
        tsunagu_cmd=tuple(args.tsunagu_cmd.split()),
        workers=args.workers,
    )
    results: list[Result] = []
    maxima: dict[str, Any] = {}
    profile_text = ""
    interrupted = failed = False
    started = time.monotonic()
    with cleanup_on_signals():
        try:
            if args.app_ref:
                opt.app_root = export_ref(args.app_ref, workdir)
            if args.baseline_ref:
                opt.base_root = export_ref(args.baseline_ref, workdir)
            fake = Fake.start(workdir, args.latency)
            log(f"fake LINE API at {fake.url} (latency {args.latency:g}s); work dir {workdir}")
            for rate in args.rate_list:
                for system in args.system_list:
                    results.append(one_run(system, rate, fake, workdir, opt))
                    r = results[-1]
                    log(
                        f"  -> {r.eps:,.0f} events/s, ack p99 {ms_u(r.ack_p99)}, "
                        f"reply p99 {ms_u(r.reply_p99)}, replies "
                        f"{100 * r.replies_share:.1f}%, errors {r.errors_total}"
                    )
            if args.find_max:
                maxima["searched"] = True
                for system in args.system_list:
                    maxima[system] = search_max(
                        system,
                        results,
                        lambda rate, s=system: one_run(s, rate, fake, workdir, opt),
                        args.max_probes,
                    )
            if args.profile:
                path = workdir / f"profile-{args.profile_rate:g}.txt"
                res = one_run(
                    "tsunagu",
                    args.profile_rate,
                    fake,
                    workdir,
                    opt,
                    profile=path,
                    py_spy_args=tuple(args.py_spy_args.split()),
                )
                profile_text = (
                    f"py-spy profile of the tsunagu process at {args.profile_rate:g}/s "
                    f"(this run: {res.eps:,.0f} events/s, ack p99 {ms_u(res.ack_p99)}, "
                    f"reply p99 {ms_u(res.reply_p99)}, app CPU "
                    f"{100 * res.cpu.get('app', math.nan):.0f}%; py-spy itself competes "
                    "for the 2 cores)\n"
                )
                profile_text += (
                    summarise_profile(path) if path.exists() else "(py-spy wrote nothing)"
                )
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted; stopping every process this benchmark started")
        except Exception:
            failed = True
            log("failed; stopping every process this benchmark started")
            traceback.print_exc()
    for system in args.system_list:
        maxima.setdefault(system, best_held(results, system))

    if results:
        print()
        print(
            f"Webhook benchmark: {args.duration:g} s measured per run after {args.warmup:g} s "
            f"warm-up; fake LINE API latency {args.latency * 1000:g} ms; think time "
            f"{args.think:g} s; {os.cpu_count()} CPUs shared by app, fake and load generator"
        )
        print(
            "events/s = 200s per second in the window; ack/reply times from each event's "
            "scheduled send time; 'lost' = over 1 % never answered or never replied"
        )
        print()
        print(table(results))
        print()
        print(cpu_table(results))
        print()
        print(
            "Held = zero errors, >= 99 % of replies arrived, ack p99 <= 100 ms. "
            + "; ".join(
                f"{LABELS[s]} highest held: {_rate(maxima.get(s))}" for s in args.system_list
            )
        )
        notes = (
            [f"{LABELS[r.system]} @ {r.rate:g}: {r.note}" for r in results if r.note]
            + [
                f"{LABELS[r.system]} @ {r.rate:g}: fake LINE API rejected {r.api_errors} "
                f"requests ({'; '.join(r.api_error_reasons)})"
                for r in results
                if r.api_errors
            ]
            + [
                f"{LABELS[r.system]} @ {r.rate:g}: statuses {r.statuses}"
                for r in results
                if r.errors
            ]
            + [
                f"{LABELS[r.system]} @ {r.rate:g}: generator lag p99 {ms_u(r.gen_lag_p99)} "
                "(the generator fell behind its schedule; latencies still count from it)"
                for r in results
                if r.gen_lag_p99 > 0.02
            ]
        )
        for note in notes:
            print(f"note: {note}")
        print()
        print("Targets:")
        for line in targets(results, maxima):
            print(f"  {line}")
        if profile_text:
            print()
            print(profile_text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [r.__dict__ | {"held": r.held} for r in results],
                indent=1,
                default=lambda v: None if isinstance(v, float) and math.isnan(v) else v,
            )
        )
    log(f"done in {time.monotonic() - started:.0f}s")
    if args.keep or interrupted or failed:
        log(f"work folder kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 130 if interrupted else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
