"""Settings: one object built from the environment at start and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Locale = Literal["ja", "en"]
SandboxMode = Literal["auto", "on", "off"]
LogFormat = Literal["text", "json"]

DEFAULT_SQLITE_PATH = Path("var") / "tsunagu.sqlite3"
# The sandbox keeps its made-up people and messages apart from a real programme's data.
SANDBOX_SQLITE_PATH = Path("var") / "sandbox.sqlite3"

# The sandbox's Slack workspace: one coordinator channel, two coordinators and a member
# who is not a coordinator (to see the refusal).
SANDBOX_COORDINATOR_CHANNEL = "C0SANDCOORD"
SANDBOX_COORDINATORS = ("U0SANDCOOR1", "U0SANDCOOR2")
SANDBOX_MEMBER = "U0SANDMEMB1"


class Settings(BaseSettings):
    """Every knob Tsunagu reads from the environment (names as docs/design.md fixes them)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8000, alias="PORT")
    database_url: str = Field(f"sqlite:///{DEFAULT_SQLITE_PATH}", alias="DATABASE_URL")
    # The sandbox's own database: DATABASE_URL is never used in the sandbox, so its
    # made-up people cannot end up among a real programme's.
    sandbox_database_url: str = Field(
        f"sqlite:///{SANDBOX_SQLITE_PATH}", alias="TSUNAGU_SANDBOX_DATABASE_URL"
    )
    # Server processes sharing the listening socket (`tsunagu serve --workers`): each one
    # verifies, stores and applies events and sends replies, so N processes use N cores.
    # The sandbox always runs one (it keeps its fake chats in memory).
    workers: int = Field(1, ge=1, le=64, alias="TSUNAGU_WORKERS")
    # Received webhook events (once applied, only their ids) are kept this many days to
    # recognise LINE's and Slack's redeliveries, which come within minutes or hours, then
    # deleted: the table does not grow by a row per event for ever.
    inbound_keep_days: int = Field(7, ge=1, le=365, alias="TSUNAGU_INBOUND_KEEP_DAYS")
    # Behind a reverse proxy (HTTPS ends there): the addresses whose X-Forwarded-For and
    # X-Forwarded-Proto headers are believed (comma-separated IPs or networks, "*" for
    # any). Empty: the headers are ignored.
    forwarded_allow_ips: str = Field("", alias="TSUNAGU_FORWARDED_ALLOW_IPS")

    line_channel_secret: str = Field("", alias="LINE_CHANNEL_SECRET")
    line_channel_access_token: str = Field("", alias="LINE_CHANNEL_ACCESS_TOKEN")
    line_api_base_url: str = Field("https://api.line.me", alias="LINE_API_BASE_URL")
    # Rich menu images go to LINE's data host; empty: api-data.line.me for the real API,
    # else the same base URL as the API (a fake serves both).
    line_data_api_base_url: str = Field("", alias="LINE_DATA_API_BASE_URL")

    slack_bot_token: str = Field("", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field("", alias="SLACK_SIGNING_SECRET")
    slack_api_base_url: str = Field("https://slack.com/api/", alias="SLACK_API_BASE_URL")
    slack_coordinator_channel: str = Field("", alias="SLACK_COORDINATOR_CHANNEL")
    slack_coordinator_ids: str = Field("", alias="SLACK_COORDINATOR_IDS")

    timezone: str = Field("Asia/Tokyo", alias="TSUNAGU_TIMEZONE")
    default_locale: Locale = Field("ja", alias="TSUNAGU_DEFAULT_LOCALE")
    log_level: str = Field("INFO", alias="TSUNAGU_LOG_LEVEL")
    # text: one readable line per record; json: one JSON object per line, for log stores.
    log_format: LogFormat = Field("text", alias="TSUNAGU_LOG_FORMAT")
    privacy_notice_version: str = Field("2026-11", alias="TSUNAGU_PRIVACY_NOTICE_VERSION")
    # After this many hours of silence a typed answer is not taken as the answer to an
    # old question: the bot says where the person left off and asks again.
    resume_after_hours: float = Field(6.0, alias="TSUNAGU_RESUME_AFTER_HOURS")

    # Outbox: first retry delay (doubles each attempt, with jitter) and attempts before
    # a message is dead (shown to coordinators by `/tsunagu outbox`).
    outbox_base_delay: float = Field(1.0, alias="TSUNAGU_OUTBOX_BASE_DELAY")
    outbox_max_attempts: int = Field(8, alias="TSUNAGU_OUTBOX_MAX_ATTEMPTS")
    # Seconds a dispatcher holds a claimed message (and the inbox a reply it is about to
    # send); after a crash another process (or the restarted one) sends it after this,
    # with the same retry key.
    outbox_lease: float = Field(60.0, alias="TSUNAGU_OUTBOX_LEASE")
    # Seconds between two posts in one Slack channel (Slack allows about one a second
    # per channel); the tests run with a small pace so team channels fill quickly.
    slack_pace: float = Field(1.0, ge=0, alias="TSUNAGU_SLACK_PACE")
    # Seconds between the outbox's looks for messages it was not told about: written by
    # another process (a CLI import, another server process) or a retry falling due.
    outbox_poll: float = Field(1.0, gt=0, alias="TSUNAGU_OUTBOX_POLL")

    # Scheduler: the process holding this lease runs the programme calendar; another
    # takes over within about this many seconds after the holder dies.
    scheduler_lease_seconds: float = Field(30.0, alias="TSUNAGU_SCHEDULER_LEASE_SECONDS")
    # Off on processes that should never run the calendar (e.g. a webhook-only pool).
    scheduler_enabled: bool = Field(True, alias="TSUNAGU_SCHEDULER")

    # Team channels: the workspace invite link sent with each member's Slack link code,
    # and how many days a link code stays valid.
    slack_invite_url: str = Field("", alias="SLACK_INVITE_URL")
    # The language of messages everyone in a channel reads (cards, team channel posts):
    # `CHANNEL_ID=ja|en` pairs separated by commas; the key `teams` sets every team
    # channel. Unlisted channels use TSUNAGU_DEFAULT_LOCALE. Private answers and modals
    # follow each person's own Slack language instead (users.info locale).
    slack_channel_locales: str = Field("", alias="SLACK_CHANNEL_LOCALES")
    link_code_days: int = Field(14, alias="TSUNAGU_LINK_CODE_DAYS")
    # Sandbox: fake LINE and Slack served by this app, with a page that plays both.
    # auto = on when neither LINE nor Slack credentials are set; on = always (real
    # credentials are then ignored); off = never.
    sandbox: SandboxMode = Field("auto", alias="TSUNAGU_SANDBOX")

    @field_validator("slack_channel_locales")
    @classmethod
    def _channel_locales(cls, value: str) -> str:
        for pair in value.split(","):
            if not pair.strip():
                continue
            channel, _, locale = pair.partition("=")
            if not channel.strip() or locale.strip() not in ("ja", "en"):
                raise ValueError(
                    "SLACK_CHANNEL_LOCALES is CHANNEL=ja|en pairs separated by commas, "
                    f"not {pair.strip()!r}"
                )
        return value

    def channel_locale(self, channel: str) -> str:
        """The language of shared messages in a Slack channel (or `teams`: team channels)."""
        return self._configured_locale(channel) or self.default_locale

    def team_locale(self, channel: str | None) -> str:
        """The language of a team channel: its own SLACK_CHANNEL_LOCALES entry, else the
        `teams` entry, else the default."""
        own = self._configured_locale(channel) if channel else None
        return own or self.channel_locale("teams")

    def _configured_locale(self, channel: str) -> str | None:
        for pair in self.slack_channel_locales.split(","):
            key, _, locale = pair.partition("=")
            if key.strip() and key.strip().lstrip("#") == channel.lstrip("#"):
                return locale.strip()
        return None

    @field_validator("line_api_base_url", "slack_api_base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @property
    def line_data_url(self) -> str:
        """Where rich menu images are uploaded (LINE's api-data host)."""
        if self.line_data_api_base_url.strip():
            return self.line_data_api_base_url.strip().rstrip("/")
        if self.line_api_base_url.rstrip("/") == "https://api.line.me":
            return "https://api-data.line.me"
        return self.line_api_base_url.rstrip("/")

    @property
    def line_enabled(self) -> bool:
        """True when both LINE credentials are configured."""
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def slack_enabled(self) -> bool:
        """True when both Slack credentials are configured."""
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def sandbox_enabled(self) -> bool:
        """True when this app should play LINE and Slack itself (TSUNAGU_SANDBOX)."""
        if self.sandbox == "auto":
            return not (self.line_enabled or self.slack_enabled)
        return self.sandbox == "on"

    @property
    def public_url(self) -> str:
        """Where this server is reached from this machine (0.0.0.0 means loopback)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def sandboxed(
        self, line_secret: str, line_token: str, slack_token: str, slack_secret: str
    ) -> Settings:
        """These settings as the sandbox runs them: its own credentials, its own fake
        platforms on this server, the sandbox workspace, and its own database
        (TSUNAGU_SANDBOX_DATABASE_URL, never DATABASE_URL)."""
        update: dict[str, object] = {
            "line_channel_secret": line_secret,
            "line_channel_access_token": line_token,
            "line_api_base_url": f"{self.public_url}/sandbox/line-api",
            "slack_bot_token": slack_token,
            "slack_signing_secret": slack_secret,
            "slack_api_base_url": f"{self.public_url}/sandbox/slack-api/",
            "slack_coordinator_channel": SANDBOX_COORDINATOR_CHANNEL,
            "slack_coordinator_ids": ",".join(SANDBOX_COORDINATORS),
            "database_url": self.sandbox_database_url,
        }
        return self.model_copy(update=update)

    def disabled_channels(self) -> list[tuple[str, str]]:
        """Name each disabled channel with the reason, for the start-up banner."""
        out: list[tuple[str, str]] = []
        if not self.line_enabled:
            missing = [
                n
                for n, v in (
                    ("LINE_CHANNEL_SECRET", self.line_channel_secret),
                    ("LINE_CHANNEL_ACCESS_TOKEN", self.line_channel_access_token),
                )
                if not v
            ]
            out.append(("LINE", "not configured: " + ", ".join(missing) + " unset"))
        if not self.slack_enabled:
            missing = [
                n
                for n, v in (
                    ("SLACK_BOT_TOKEN", self.slack_bot_token),
                    ("SLACK_SIGNING_SECRET", self.slack_signing_secret),
                )
                if not v
            ]
            out.append(("Slack", "not configured: " + ", ".join(missing) + " unset"))
        return out
