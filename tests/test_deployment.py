"""Deployment: the image copies what the package needs, compose wires the app to PostgreSQL
with health checks, and a reverse proxy's headers are believed only when configured."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import HTTP

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_image_installs_every_package_and_serves_with_a_health_check() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.splitlines()[2] == "FROM python:3.12-slim"
    copied = {
        part.rstrip("/").removeprefix("./")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for part in line.split()[1:-1]
    }
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    # pip install . needs the packages and the files pyproject.toml names.
    assert packages | {"pyproject.toml", "README.md", "LICENSE"} <= copied
    assert re.search(r"^USER tsunagu$", dockerfile, re.MULTILINE)  # not root
    assert 'CMD ["tsunagu", "serve", "--host", "0.0.0.0"]' in dockerfile  # migrates on start
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert "TSUNAGU_SANDBOX=off" in dockerfile
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and ".venv" in ignored  # no secrets or local installs in the image


def test_compose_runs_the_app_on_postgresql_once_it_is_healthy() -> None:
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    db, app = services["db"], services["app"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://tsunagu:")
    assert app["environment"]["DATABASE_URL"].endswith("@db:5432/tsunagu")
    assert app["environment"]["TSUNAGU_SANDBOX"] == "off"
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    assert app["ports"] == ["127.0.0.1:${PORT:-8000}:8000"]  # public only through the proxy
    assert {"pgdata", "appdata"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    caddy = services["caddy"]
    assert caddy["profiles"] == ["https"]
    assert caddy["depends_on"] == {"app": {"condition": "service_healthy"}}
    caddyfile = (REPO_ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert "@public path /line/webhook /slack/events /healthz" in caddyfile
    # Every setting compose passes or reads from .env is listed in .env.example.
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert set(app["environment"]) <= listed
    text = (REPO_ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", text)) <= listed


def serve(tmp_path: Path, database_url: str, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TSUNAGU_SANDBOX": "off",
        "TSUNAGU_SCHEDULER": "false",
        "TSUNAGU_LOG_LEVEL": "INFO",
        **extra,
    }
    with (tmp_path / "server.log").open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port), "--access-log"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        assert popen.poll() is None, (tmp_path / "server.log").read_text()
        try:
            if HTTP.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                return popen, port
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)


def access_lines(tmp_path: Path) -> str:
    return (tmp_path / "server.log").read_text(encoding="utf-8")


# Two `tsunagu serve` processes, each importing the app and migrating: slow by nature
# (about 8 s of a loaded run), so `make test-slow` runs it.
@pytest.mark.slow
def test_proxy_headers_are_believed_only_from_the_configured_proxy(
    database_url: str, tmp_path: Path
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    for allowed, seen in (("127.0.0.1", "203.0.113.7"), ("", "127.0.0.1")):
        popen, port = serve(tmp_path, database_url, TSUNAGU_FORWARDED_ALLOW_IPS=allowed)
        try:
            marker = f"/healthz?probe={port}"
            assert HTTP.get(f"http://127.0.0.1:{port}{marker}", headers=forwarded).is_success
            line = until_logged(tmp_path, marker)
            assert line.split(" - ")[0].split()[-1].startswith(seen + ":"), line
        finally:
            popen.terminate()
            popen.wait(30)


def until_logged(tmp_path: Path, marker: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        found = [line for line in access_lines(tmp_path).splitlines() if marker in line]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, access_lines(tmp_path)
        time.sleep(0.05)
