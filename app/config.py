"""Settings: one typed object, read from `nudge.toml` and `NUDGE_*` environment variables.

Environment variables win over the file; nested fields use a double underscore
(`NUDGE_SMTP__HOST=mail.example.com`). The CLI builds one `Settings` and passes it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from app.core.errors import ConfigError


class SmtpSettings(BaseModel):
    """How Nudge reaches its mail server."""

    host: str = "127.0.0.1"
    """SMTP server host name."""
    port: int = 1025
    """SMTP server port (1025 is `nudge sink`'s default; 587 for STARTTLS, 465 for TLS)."""
    security: Literal["none", "starttls", "tls"] = "none"
    """`starttls` upgrades a plain connection, `tls` connects with implicit TLS."""
    username: str | None = None
    """AUTH user name; no AUTH when unset."""
    password: str | None = None
    """AUTH password."""
    from_address: str = "Nudge <nudge@example.com>"
    """Default From header, unless a campaign or the trigger event sets one."""
    rate_per_second: float = 10.0
    """Most messages handed to the server per second."""
    pool_size: int = 4
    """Connections kept open and reused."""


class Settings(BaseSettings):
    """Everything an operator can set. Relative paths are relative to the working directory."""

    model_config = SettingsConfigDict(
        env_prefix="NUDGE_",
        env_nested_delimiter="__",
        toml_file="nudge.toml",
        extra="forbid",
    )

    database: Path = Path("data/nudge.db")
    """The SQLite file that holds people, events, campaigns state and the outbox."""
    campaigns: Path = Path("campaigns")
    """Folder of campaign and segment definitions (YAML) and their templates."""
    timezone: str = "UTC"
    """Workspace IANA time zone: used for people without a `timezone` attribute and for
    importing logs whose times have no zone."""
    api_keys: list[str] = Field(default_factory=list)
    """Keys accepted by the HTTP Track API: the HTTP Basic password under `api_site_id`
    (Customer.io), or the user name with an empty password, or `writeKey` in the body
    (Segment and RudderStack write keys). No keys: every track request gets 401."""
    api_site_id: str = "nudge"
    """The Customer.io site id: the HTTP Basic user name that goes with an `api_keys`
    entry as password."""
    api_host: str = "127.0.0.1"
    """Address `nudge serve` binds the HTTP API to (`0.0.0.0` for every interface)."""
    api_port: int = 8080
    """Port of the HTTP API (0 picks a free one)."""
    trigger_max_age_hours: int = 72
    """Events older than this when they arrive are stored but start no campaign
    (Customer.io: 72 h)."""
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    """Outgoing mail server."""
    public_url: str = "http://127.0.0.1:8080"
    """Base URL people reach Nudge's HTTP server at (unsubscribe links)."""
    unsubscribe_mailto: str | None = None
    """Address for `List-Unsubscribe: <mailto:...>` (RFC 2369), beside the URL."""
    secret_key: str | None = None
    """Signs unsubscribe tokens. When unset, one is generated once and kept in the database."""
    message_limit: int = 0
    """Most campaign emails per person per `message_limit_window_hours` (0: no limit)."""
    message_limit_window_hours: int = 24
    """The rolling window of the message limit."""
    limited_give_up_hours: int = 72
    """A message held back by the limit this long is marked undeliverable."""
    max_attempts: int = 8
    """SMTP attempts (4xx answers, connection errors) before a delivery is undeliverable."""
    retry_base_seconds: float = 30.0
    """First retry delay; each later retry waits twice as long."""
    scheduler_interval_seconds: float = 1.0
    """Pause between scheduler ticks (the next tick is armed after the last finishes)."""
    lease_seconds: float = 60.0
    """How long the scheduler lease lasts unrenewed: after its holder dies, another
    process (a restarted `nudge serve`, the console) starts sending this much later.
    Keep it above the SMTP timeout (30 s), so a send that hangs that long is never taken
    for a dead holder's and sent again."""
    watch_folder: Path | None = None
    """A folder of JSONL files that `nudge serve` ingests as they are written."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def zone(self) -> ZoneInfo:
        """The workspace time zone."""
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Build the settings from nudge.toml, the environment and explicit overrides.

    Raises:
        ConfigError: naming the first bad field.
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        message = first["msg"].removeprefix("Value error, ")  # pydantic's wording
        raise ConfigError(f"bad setting {where}: {message}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read nudge.toml: {exc}") from None
