# Tsunagu's server image: `tsunagu serve` on port 8000, migrating the database on start.
# Minimal on purpose (README, "Deployment"): one stage, the project installed with pip.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tsunagu
WORKDIR /app

COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . && mkdir -p /app/var && chown tsunagu:tsunagu /app/var
COPY examples ./examples

USER tsunagu
# A real deployment: never the sandbox (it has no login); SQLite under /app/var unless
# DATABASE_URL names PostgreSQL (compose.yaml does).
ENV HOST=0.0.0.0 \
    PORT=8000 \
    TSUNAGU_SANDBOX=off \
    DATABASE_URL=sqlite:////app/var/tsunagu.sqlite3
VOLUME ["/app/var"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["tsunagu", "serve", "--host", "0.0.0.0"]
