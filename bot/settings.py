"""Settings: one object built from the environment at start and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Locale = Literal["ja", "en"]

DEFAULT_SQLITE_PATH = Path("var") / "tsunagu.sqlite3"


class Settings(BaseSettings):
    """Every knob Tsunagu reads from the environment (names as docs/design.md fixes them)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8000, alias="PORT")
    database_url: str = Field(f"sqlite:///{DEFAULT_SQLITE_PATH}", alias="DATABASE_URL")

    line_channel_secret: str = Field("", alias="LINE_CHANNEL_SECRET")
    line_channel_access_token: str = Field("", alias="LINE_CHANNEL_ACCESS_TOKEN")
    line_api_base_url: str = Field("https://api.line.me", alias="LINE_API_BASE_URL")

    slack_bot_token: str = Field("", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field("", alias="SLACK_SIGNING_SECRET")
    slack_api_base_url: str = Field("https://slack.com/api/", alias="SLACK_API_BASE_URL")
    slack_coordinator_channel: str = Field("", alias="SLACK_COORDINATOR_CHANNEL")
    slack_coordinator_ids: str = Field("", alias="SLACK_COORDINATOR_IDS")

    timezone: str = Field("Asia/Tokyo", alias="TSUNAGU_TIMEZONE")
    default_locale: Locale = Field("ja", alias="TSUNAGU_DEFAULT_LOCALE")
    log_level: str = Field("INFO", alias="TSUNAGU_LOG_LEVEL")
    privacy_notice_version: str = Field("2026-11", alias="TSUNAGU_PRIVACY_NOTICE_VERSION")
    # After this many hours of silence a typed answer is not taken as the answer to an
    # old question: the bot says where the person left off and asks again.
    resume_after_hours: float = Field(6.0, alias="TSUNAGU_RESUME_AFTER_HOURS")

    # Outbox: first retry delay (doubles each attempt, with jitter) and attempts before
    # a message is dead (shown to coordinators by `/tsunagu outbox`).
    outbox_base_delay: float = Field(1.0, alias="TSUNAGU_OUTBOX_BASE_DELAY")
    outbox_max_attempts: int = Field(8, alias="TSUNAGU_OUTBOX_MAX_ATTEMPTS")

    # Scheduler: the process holding this lease runs the programme calendar; another
    # takes over within about this many seconds after the holder dies.
    scheduler_lease_seconds: float = Field(30.0, alias="TSUNAGU_SCHEDULER_LEASE_SECONDS")
    # Off on processes that should never run the calendar (e.g. a webhook-only pool).
    scheduler_enabled: bool = Field(True, alias="TSUNAGU_SCHEDULER")

    @field_validator("line_api_base_url", "slack_api_base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @property
    def line_enabled(self) -> bool:
        """True when both LINE credentials are configured."""
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def slack_enabled(self) -> bool:
        """True when both Slack credentials are configured."""
        return bool(self.slack_bot_token and self.slack_signing_secret)

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
