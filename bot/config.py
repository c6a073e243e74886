"""Loading Vigil's configuration: ``.env`` / the environment for endpoints and secrets, YAML in
``data_config/`` for everything else. Loaded once into a typed ``Settings`` and passed down.

Any bad value raises ``ConfigError`` whose message is one line naming the key, the file and what
is expected; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.crontab import check_crontab, check_timezone
from bot.digests import DigestConfig, check_channels
from handlers.access import AccessPolicy
from handlers.alertbook import AlertPolicy
from handlers.limits import ChatLimits
from handlers.routing import AlertRoute, AlertRouter
from knowledge.config import (
    AnalysisConfig,
    KnowledgeConfig,
    LLMConfig,
    PrivacyConfig,
    PromptsConfig,
    StrictModel,
)
from knowledge.errors import ConfigError
from knowledge.sources.registry import SourcesConfig
from knowledge.timeparse import parse_duration
from training.dataset_config import DatasetConfig

AI_CONFIG_FILE = "ai-config.yml"
CHANNELS_FILE = "channels.yml"
PACKAGE_CONFIG_DIR = Path(__file__).resolve().parent.parent / "data_config"


# --------------------------------------------------------------------------- environment


class EnvSettings(StrictModel):
    """Endpoints and secrets, from the environment or ``.env``. Empty values count as unset."""

    PROMETHEUS_URL: str | None = None
    ELASTICSEARCH_URL: str | None = None
    JAEGER_URL: str | None = None
    PROMETHEUS_USERNAME: str | None = None
    PROMETHEUS_PASSWORD: SecretStr | None = None
    PROMETHEUS_BEARER_TOKEN: SecretStr | None = None
    ELASTICSEARCH_API_KEY: SecretStr | None = None
    ELASTICSEARCH_USERNAME: str | None = None
    ELASTICSEARCH_PASSWORD: SecretStr | None = None
    JAEGER_BEARER_TOKEN: SecretStr | None = None
    OLLAMA_HOST: str | None = None
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str | None = None
    DISCORD_TOKEN: SecretStr | None = None
    DISCORD_GUILD_IDS: tuple[int, ...] = ()
    """The Discord servers (guild ids, comma-separated) Vigil serves; others are ignored."""
    VIGIL_DATA_DIR: Path = Path("var")
    VIGIL_ROLE: Literal["all", "chat", "scheduler"] = "all"
    """``all``: serve chat and run the scheduled jobs while holding the leader lease; ``chat``:
    chat fronts only; ``scheduler``: the jobs only (``/metrics`` and the health checks still
    served)."""
    VIGIL_HTTP_PORT: int = Field(default=8080, ge=0, le=65535)
    """Slack events (HTTP mode), the web console and ``/healthz``; 0 picks a free port."""
    VIGIL_HTTP_HOST: str = "127.0.0.1"
    """Where the HTTP server binds. Anything but loopback needs ``VIGIL_WEB_TOKEN`` for the
    web console (Slack's endpoint checks Slack's signature itself)."""
    VIGIL_WEB_CONSOLE: Literal["auto", "on", "off"] = "auto"
    """``auto``: the web console is served when neither Slack nor Discord is configured."""
    VIGIL_WEB_TOKEN: SecretStr | None = Field(default=None, validate_default=True)
    VIGIL_CONSOLE: bool = False
    VIGIL_LOG_FORMAT: Literal["text", "json"] = "text"
    VIGIL_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    VIGIL_SCHEDULER_DB: SecretStr | None = None
    """SQLAlchemy URL of the job store and leader lease that replicas share (it may carry a
    password); default ``sqlite:///VIGIL_DATA_DIR/scheduler.sqlite``."""
    VIGIL_LANCEDB_URI: str | None = None
    """Where the knowledge store lives: a folder, or ``s3://bucket/prefix`` (also ``gs://``,
    ``az://``); default ``VIGIL_DATA_DIR/lancedb``."""
    AWS_ACCESS_KEY_ID: str | None = None
    AWS_SECRET_ACCESS_KEY: SecretStr | None = None
    AWS_SESSION_TOKEN: SecretStr | None = None
    AWS_REGION: str | None = None
    AWS_ENDPOINT_URL: str | None = None
    """An S3-compatible endpoint (MinIO, Ceph, ...) for ``VIGIL_LANCEDB_URI=s3://...``."""

    @field_validator(
        "PROMETHEUS_URL",
        "ELASTICSEARCH_URL",
        "JAEGER_URL",
        "OPENAI_BASE_URL",
        "SLACK_API_URL",
        "AWS_ENDPOINT_URL",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("OLLAMA_HOST")
    @classmethod
    def _ollama_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^(https?://)?[\w.\-\[\]:]+(:\d+)?/?$", value):
            raise ValueError("expected a host such as http://localhost:11434")
        return value if value.startswith("http") else f"http://{value}"

    @field_validator("VIGIL_LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("DISCORD_GUILD_IDS", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not all(p.isdigit() for p in parts):
                raise ValueError("expected comma-separated guild ids such as 81384788765712384")
            return tuple(int(p) for p in parts)
        return value

    @field_validator("VIGIL_WEB_CONSOLE", "VIGIL_ROLE", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("VIGIL_HTTP_HOST")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.match(r"^[\w.\-:]+$", value):
            raise ValueError("expected an address to bind, such as 127.0.0.1 or 0.0.0.0")
        return value

    @field_validator("VIGIL_WEB_TOKEN")
    @classmethod
    def _token_off_loopback(cls, value: SecretStr | None, info: ValidationInfo) -> Any:
        host = str(info.data.get("VIGIL_HTTP_HOST") or "127.0.0.1")
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("expected at least 16 characters (openssl rand -hex 16)")
        console = info.data.get("VIGIL_WEB_CONSOLE", "auto")
        platform = info.data.get("SLACK_BOT_TOKEN") or info.data.get("DISCORD_TOKEN")
        served = info.data.get("VIGIL_ROLE") != "scheduler" and (
            console == "on" or (console == "auto" and not platform)
        )
        if value is None and not is_loopback(host) and served:
            raise ValueError(
                f"required when VIGIL_HTTP_HOST ({host}) is not a loopback address: the web "
                "console asks for it (or set VIGIL_WEB_CONSOLE=off)"
            )
        return value

    def web_console_on(self) -> bool:
        """Whether the web console is served (``auto``: when no chat platform is configured)."""
        if self.VIGIL_WEB_CONSOLE != "auto":
            return self.VIGIL_WEB_CONSOLE == "on"
        return self.SLACK_BOT_TOKEN is None and self.DISCORD_TOKEN is None

    @field_validator("VIGIL_SCHEDULER_DB")
    @classmethod
    def _sql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^[a-z][\w+]*://", value.get_secret_value()):
            raise ValueError("expected a SQLAlchemy URL such as postgresql+psycopg://host/vigil")
        return value

    def scheduler_db_url(self) -> str:
        """The job store's SQLAlchemy URL (the shared one, else SQLite in the data dir)."""
        if self.VIGIL_SCHEDULER_DB is not None:
            return self.VIGIL_SCHEDULER_DB.get_secret_value()
        return f"sqlite:///{self.VIGIL_DATA_DIR / 'scheduler.sqlite'}"

    def secret_values(self) -> list[str]:
        """Every configured secret, so that logging can scrub them verbatim."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


ENV_KEYS = tuple(EnvSettings.model_fields)
SECRET_KEYS = tuple(
    name
    for name, field in EnvSettings.model_fields.items()
    if SecretStr in typing.get_args(field.annotation)
)
SECRET_FILE_KEYS = tuple(f"{name}_FILE" for name in SECRET_KEYS)
"""``SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token``: the secret is read from that file
(Docker and Kubernetes secrets), never from the command line."""


SECRET_FILE_MAX = 64 * 1024
"""A secret file is read up to this (``/dev/zero`` must not hang the start)."""


def _read_secret_files(values: dict[str, Any], origin: dict[str, str]) -> None:
    """Replace each ``KEY_FILE`` in ``values`` by ``KEY`` with the file's content (stripped)."""
    for key in SECRET_KEYS:
        path = values.pop(f"{key}_FILE", None)
        if path is None:
            continue
        where = origin.pop(f"{key}_FILE", "environment")
        if key in values:
            if origin.get(key) == where:
                raise ConfigError(key, where, f"set {key} or {key}_FILE, not both")
            if origin.get(key) == "environment":
                continue  # the environment wins over .env, as for any key
            # KEY in .env, KEY_FILE in the environment: the file wins
        try:
            with Path(path).open(encoding="utf-8") as handle:
                secret = handle.read(SECRET_FILE_MAX + 1)
            if len(secret) > SECRET_FILE_MAX:
                raise ConfigError(
                    f"{key}_FILE",
                    where,
                    f"expected a file holding the secret (at most {SECRET_FILE_MAX:,} characters)",
                    path,
                )
            secret = secret.strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(
                f"{key}_FILE",
                where,
                f"expected a readable file holding the secret ({reason})",
                path,
            ) from None
        if not secret:
            raise ConfigError(
                f"{key}_FILE", where, "expected a file holding the secret; it is empty", path
            )
        values[key] = secret
        origin[key] = f"{where} ({key}_FILE)"


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")


# --------------------------------------------------------------------------- YAML files


class JobSchedule(StrictModel):
    """One scheduled job: which job kind runs, and when (``every`` or ``cron``, not both)."""

    job: str | None = None
    every: timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"
    timeout: timedelta = timedelta(minutes=5)
    enabled: bool = True
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("every", "timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("every")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() <= 0:
            raise ValueError("expected a duration above zero, such as 60s")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        # as the scheduler reads it: 7 = Sunday, 5-7 allowed
        return None if value is None else check_crontab(value)

    @model_validator(mode="after")
    def _one_trigger(self) -> JobSchedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' or 'cron'")
        return self


class DemoSettings(StrictModel):
    seed: int = 42
    speed: float = Field(default=60.0, gt=0, le=3600)
    start: datetime | None = None
    exporter_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve the demo fleet as a Prometheus /metrics endpoint on this port (0: any free one)."""
    exporter_host: str = "127.0.0.1"
    schedules: dict[str, JobSchedule] = Field(default_factory=dict)


class SchedulerSettings(StrictModel):
    """How replicas share the scheduled jobs: one leader runs them, the others stand by."""

    lease: timedelta = timedelta(seconds=15)
    """The leader renews its lease every third of this; a standby takes over once the lease
    has run out without renewal (the leader died or lost the job store)."""

    @field_validator("lease", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("lease")
    @classmethod
    def _at_least(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("expected a duration of at least 1s, such as 15s")
        return value


class AnomalySettings(StrictModel):
    """How the alerts job reads and scores live metrics with the promoted anomaly model."""

    history: timedelta = timedelta(hours=24)
    """Each host's baseline is fitted on this much history (a day: daily cycles are normal)."""
    window: timedelta = timedelta(minutes=15)
    """The newest rows scored at each run."""
    refit: timedelta = timedelta(minutes=30)
    """How often each host's baseline is refitted."""
    step: timedelta = timedelta(minutes=1)
    check_model_every: timedelta = timedelta(seconds=5)
    """How often the bot looks for a newly promoted model (no restart needed)."""

    @field_validator("history", "window", "refit", "step", "check_model_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class AIConfigFile(StrictModel):
    """The whole of ``ai-config.yml``."""

    analysis: AnalysisConfig = AnalysisConfig()
    prompts: PromptsConfig = PromptsConfig()
    llm: LLMConfig = LLMConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()
    sources: SourcesConfig = SourcesConfig()
    schedules: dict[str, JobSchedule] = Field(default_factory=dict)
    scheduler: SchedulerSettings = SchedulerSettings()
    demo: DemoSettings = DemoSettings()
    alerts: AlertPolicy = AlertPolicy()
    anomaly: AnomalySettings = AnomalySettings()
    datasets: DatasetConfig = DatasetConfig()
    chat: ChatLimits = ChatLimits()


class Channel(StrictModel):
    description: str = ""
    slack: str | None = None
    discord: str | None = None


Route = Literal["alerts", "notices", "answers", "digest"]
DEFAULT_ROUTES: dict[Route, str] = {
    "alerts": "alerts",
    "notices": "ops",
    "answers": "general",
    "digest": "digest",
}


class ChannelsConfig(StrictModel):
    """The whole of ``channels.yml``: channels, which one gets what by default, and rules that
    send alerts elsewhere by service, host, type and severity (first match wins)."""

    channels: dict[str, Channel] = Field(
        default_factory=lambda: {n: Channel() for n in ("alerts", "digest", "general", "ops")}
    )
    routes: dict[Route, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    alert_routes: tuple[AlertRoute, ...] = ()
    digests: dict[str, DigestConfig] = Field(default_factory=dict)
    """Scheduled digests per channel (``bot.digests``)."""
    access: AccessPolicy = AccessPolicy()
    """Who may change state. Without an ``access`` key: on Slack and Discord, whoever is in a
    channel that gets alerts or notices (the ``alerts`` and ``notices`` routes and every
    ``alert_routes`` channel: they see the alert buttons); anyone on the web console."""

    @model_validator(mode="before")
    @classmethod
    def _access_follows_alerts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "access" in data:
            return data
        routes = {**DEFAULT_ROUTES, **(data.get("routes") or {})}
        where = {str(routes["alerts"]), str(routes["notices"])}
        for rule in data.get("alert_routes") or []:
            if isinstance(rule, dict) and rule.get("channel"):
                where.add(str(rule["channel"]))
        rule = {"channels": sorted(where)}
        return {**data, "access": {"slack": rule, "discord": rule}}

    @field_validator("alert_routes")
    @classmethod
    def _alert_channels_exist(
        cls, rules: tuple[AlertRoute, ...], info: ValidationInfo
    ) -> tuple[AlertRoute, ...]:
        channels = info.data.get("channels") or {}
        for number, rule in enumerate(rules):
            if rule.channel not in channels:
                raise ValueError(
                    f"rule {number} names channel {rule.channel!r}, which is not defined under "
                    f"channels (defined: {', '.join(sorted(channels)) or 'none'})"
                )
        return rules

    @model_validator(mode="after")
    def _routes_exist(self) -> ChannelsConfig:
        for route, channel in self.routes.items():
            if channel not in self.channels:
                raise ValueError(f"routes.{route} names channel {channel!r}, which is not defined")
        return self

    @model_validator(mode="after")
    def _digest_channels_exist(self) -> ChannelsConfig:
        check_channels(self.digests, self.channels)
        return self

    @model_validator(mode="after")
    def _access_by_vigil_names(self) -> ChannelsConfig:
        """``access.slack.channels: ["#vigil-alerts"]`` (a platform name, an easy mistake) means
        the Vigil channel that has that name there."""
        rules = {}
        for platform in ("slack", "discord"):
            rule = getattr(self.access, platform)
            names = {
                (getattr(c, platform) or "").lstrip("#").lower(): n
                for n, c in self.channels.items()
                if getattr(c, platform)
            }
            fixed = tuple(names.get(c.lower(), c) for c in rule.channels)
            if fixed != rule.channels:
                rules[platform] = rule.model_copy(update={"channels": fixed})
        if rules:
            object.__setattr__(self, "access", self.access.model_copy(update=rules))
        return self

    def route(self, what: Route) -> str:
        return self.routes.get(what, next(iter(self.channels), "general"))

    def platform_names(self, platform: Literal["slack", "discord"]) -> dict[str, str]:
        """Vigil channel name -> its name or id on ``platform``, for the channels that have one
        (``"#vigil-alerts"`` is given as ``"vigil-alerts"``)."""
        names = {}
        for name, channel in self.channels.items():
            value = getattr(channel, platform)
            if value:
                names[name] = value.lstrip("#")
        return names

    def alert_router(self) -> AlertRouter:
        """The alert routing rules, falling back to the ``alerts`` route."""
        return AlertRouter(self.alert_routes, self.route("alerts"))


# --------------------------------------------------------------------------- Settings


@dataclass(frozen=True)
class Settings:
    env: EnvSettings
    ai: AIConfigFile
    channels: ChannelsConfig
    config_dir: Path
    env_file: Path | None

    @property
    def data_dir(self) -> Path:
        return self.env.VIGIL_DATA_DIR


def load_settings(
    config_dir: Path | None = None,
    env_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Load and validate every setting; raise ``ConfigError`` (one line) on the first bad one.

    ``config_dir``: ``VIGIL_CONFIG_DIR``, else ``./data_config`` when it exists, else the copy
    shipped with the package. ``env_file``: ``.env`` in the current directory when it exists.
    """
    environ = dict(os.environ if environ is None else environ)
    env_path = env_file if env_file is not None else Path(".env")
    env = _load_env(env_path if env_path.is_file() else None, environ)
    if config_dir is None:
        configured = environ.get("VIGIL_CONFIG_DIR")
        if configured:
            config_dir = Path(configured)
            if not config_dir.is_dir():
                raise ConfigError(
                    "VIGIL_CONFIG_DIR", "environment", "expected a folder", configured
                )
        else:
            config_dir = Path("data_config") if Path("data_config").is_dir() else PACKAGE_CONFIG_DIR
    ai = _load_yaml_model(config_dir / AI_CONFIG_FILE, AIConfigFile)
    channels = _load_yaml_model(config_dir / CHANNELS_FILE, ChannelsConfig)
    return Settings(
        env=env,
        ai=ai,
        channels=channels,
        config_dir=config_dir,
        env_file=env_path if env_path.is_file() else None,
    )


def _load_env(env_file: Path | None, environ: dict[str, str]) -> EnvSettings:
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v} if env_file else {}
    origin: dict[str, str] = {k: str(env_file) for k in from_file}
    values: dict[str, Any] = dict(from_file)
    for key in (*ENV_KEYS, *SECRET_FILE_KEYS):
        if environ.get(key):
            values[key] = environ[key]
            origin[key] = "environment"
    _read_secret_files(values, origin)
    known = {*ENV_KEYS, *SECRET_FILE_KEYS, "VIGIL_CONFIG_DIR"}
    unknown = [k for k in from_file if k not in known]
    if unknown:
        key = unknown[0]
        raise ConfigError(key, str(env_file), _unknown_key_hint(key, ENV_KEYS))
    try:
        return EnvSettings.model_validate({k: v for k, v in values.items() if k in ENV_KEYS})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        got = values.get(key)
        if got is not None and (key in SECRET_KEYS or key.endswith(("TOKEN", "SECRET", "KEY"))):
            got = "***"
        raise ConfigError(key, origin.get(key, "environment"), _expected(error), got) from None


def _load_yaml_model(path: Path, model: type[StrictModel]) -> Any:
    if not path.is_file():
        return model()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start + 1}"
        raise ConfigError(where, str(path), "expected a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = " ".join(str(getattr(exc, "problem", exc)).split())  # one line
        raise ConfigError(where, str(path), f"expected valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ConfigError("(top level)", str(path), "expected a mapping of keys to values")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc) or "(top level)"
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            raise ConfigError(key, str(path), _unknown_key_hint(loc[-1], allowed)) from None
        got = error.get("input") if not isinstance(error.get("input"), dict) else None
        raise ConfigError(key, str(path), _expected(error), got) from None


def _expected(error: Any) -> str:
    message = str(error["msg"])
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return message[0].lower() + message[1:] if message else "invalid value"


def _unknown_key_hint(key: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(sorted(allowed)) if allowed else "none"
    return f"unknown key{hint} (allowed: {listing})"


def _allowed_keys(model: type[StrictModel], path: list[str]) -> list[str]:
    """The field names allowed at ``path`` inside ``model``, for the did-you-mean hint."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", {})
        if part in fields:
            current = _inner_model(fields[part].annotation) or current
        # otherwise ``part`` is a dict key or a list index: ``current`` is already the item model
    return list(getattr(current, "model_fields", {}))


def _inner_model(annotation: Any) -> Any:
    """The pydantic model in ``M``, ``M | None``, ``dict[str, M]`` or ``tuple[M, ...]``."""
    if hasattr(annotation, "model_fields"):
        return annotation
    args = getattr(annotation, "__args__", ())
    return next((a for a in reversed(args) if hasattr(a, "model_fields")), None)
