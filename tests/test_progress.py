"""Progress on long CLI work: drawn on stderr when it is a terminal, silent otherwise."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.support import scalar

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], database_url: str, cwd: Path, *, tty: bool) -> tuple[str, str]:
    """Run `tsunagu ARGS` in the sandbox's database; stderr on a pseudo-terminal if `tty`."""
    env = {
        **os.environ,
        "TSUNAGU_SANDBOX": "on",
        "TSUNAGU_SANDBOX_DATABASE_URL": database_url,
        "TSUNAGU_LOG_LEVEL": "WARNING",
    }
    if not tty:
        done = subprocess.run(
            [sys.executable, "-m", "handlers.cli", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout, done.stderr
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        drawn = bytearray()
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closes when the process ends
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, drawn.decode(errors="replace")
    finally:
        os.close(leader)
    return out.decode(), drawn.decode(errors="replace")


def test_demo_load_shows_progress_on_a_terminal_only(database_url: str, tmp_path: Path) -> None:
    out, err = run_cli(["demo"], database_url, tmp_path, tty=True)
    assert "Loaded 5 groups with 5 accepted requests and 18 volunteers" in out
    total = 1 + 18 + 5 + 5
    assert f"loading demo [{'#' * 24}] {total}/{total} accepting requests" in err
    assert "\r" in err and "volunteers" in err and "groups" in err
    assert err.endswith("\r\n") or err.endswith("\n")  # the line is ended, not left open
    assert scalar(database_url, "SELECT count(*) FROM volunteers") == 18
    # Piped: the same command writes no progress at all.
    out, err = run_cli(["demo"], database_url, tmp_path, tty=False)
    assert "already loaded" in out and err == ""


def test_programme_import_shows_progress_on_a_terminal_only(
    database_url: str, tmp_path: Path
) -> None:
    example = str(REPO_ROOT / "examples" / "kawasaki-2017.yaml")
    args = ["programme", "import", example, "--shift-to", "2030-04-01"]
    out, err = run_cli(args, database_url, tmp_path, tty=True)
    assert "KAWASAKI 2017" in out
    phases = scalar(database_url, "SELECT count(*) FROM phases")
    assert phases > 1
    assert f"importing [{'#' * 24}] {phases}/{phases} phases" in err
    assert "importing [" in err and "\r" in err
    again, err = run_cli(args, database_url, tmp_path, tty=False)
    assert err == "" and again.strip()
