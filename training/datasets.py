"""The training datasets as a whole, behind ``vigil dataset`` and the scheduler's dataset job:
generate (language and metrics), status, retry-failed, reset and summary.

Only one generation runs on a datasets folder at a time (a lock file); a second one is refused
with a message naming the first one's process.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from knowledge.errors import ConfigError, VigilError
from knowledge.llm.base import Provider
from knowledge.redaction import Redactor
from training.backends import Answerers, Member, Pool, provider_key, static_member
from training.dataset_config import DatasetConfig
from training.dataset_files import Backups
from training.dataset_paths import SAMPLE_TYPES, DatasetPaths
from training.generate import LanguageGenerator, ProgressCallback, RunReport, allocate, session_name
from training.language_store import LanguageStore
from training.metrics_generation import (
    MetricsReport,
    MetricsSpec,
    generate_metrics,
    read_metrics_meta,
)
from training.progress import FAILED, OK
from training.prompts import StaticResponder, WorkItem, build_items
from training.quality import QualityFilter
from training.vocabulary import Vocabulary, load_vocabulary

METRICS = "metrics"
BackendChoice = Literal["auto", "static", "ollama", "openai", "transformers"]


class GenerationBusy(VigilError):
    """Another process is generating into the same datasets folder."""


@dataclass(frozen=True)
class Endpoints:
    """The LLM endpoints configured in ``.env`` and ``llm:``, for building the pool."""

    ollama_host: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    local_model: str = ""
    answering_backend: str | None = None
    """The backend that answers questions (``llm.provider`` resolved), whose models make the
    default pool; None: the extractive analyst, so the default pool is the static templates."""
    answering_models: tuple[str, ...] = ()
    privacy: str = "redact"


@dataclass
class GenerateReport:
    language: RunReport | None = None
    metrics: MetricsReport | None = None
    messages: list[str] = field(default_factory=list)
    pool: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class TypeStatus:
    type: str
    done: int
    target: int
    failed: int
    rejected: int
    prompts: int  # prompts the vocabulary offers for this type


@dataclass(frozen=True)
class Status:
    types: list[TypeStatus]
    rate: float | None  # samples per second, recent sessions
    metrics_done: int
    metrics_target: int
    config_changed: bool
    last_session: dict[str, Any] | None
    messages: list[str]

    @property
    def remaining(self) -> int:
        return sum(max(0, t.target - t.done) for t in self.types)

    @property
    def eta_s(self) -> float | None:
        if not self.remaining:
            return 0.0
        return self.remaining / self.rate if self.rate else None


class DatasetService:
    def __init__(
        self,
        data_dir: Path,
        config_dir: Path,
        config: DatasetConfig,
        endpoints: Endpoints = Endpoints(),
        redactor: Redactor | None = None,
    ) -> None:
        self.paths = DatasetPaths.in_data_dir(data_dir)
        self.config_dir = Path(config_dir)
        self.config = config
        self.endpoints = endpoints
        self.redactor = redactor
        self.backups = Backups(self.paths.backups, keep=config.keep_backups)
        self._vocab: Vocabulary | None = None

    @property
    def vocabulary(self) -> Vocabulary:
        if self._vocab is None:
            self._vocab = load_vocabulary(self.config_dir)
        return self._vocab

    # ------------------------------------------------------------------ generate
    def generate(
        self,
        types: Sequence[str] | None = None,
        *,
        language_samples: int | None = None,
        metrics_samples: int | None = None,
        anomaly_ratio: float | None = None,
        backend: BackendChoice = "auto",
        on_progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> GenerateReport:
        """Generate what is missing. ``types``: sample types and/or ``metrics`` (default all)."""
        wanted = check_types(types)
        report = GenerateReport()
        with self._lock():
            if METRICS in wanted:
                spec = MetricsSpec(
                    metrics_samples or self.config.metrics_samples,
                    self.config.anomaly_ratio if anomaly_ratio is None else anomaly_ratio,
                    self.config.seed,
                )
                report.metrics = generate_metrics(
                    self.paths.metrics,
                    spec,
                    self.backups,
                    session_id=session_name(datetime.now(UTC)),
                )
                if report.metrics.recovery:
                    report.messages.append(report.metrics.recovery)
            language = [t for t in wanted if t != METRICS]
            if language:
                report.language = self._language(
                    language, language_samples, backend, report, on_progress, stop
                )
        return report

    def _language(
        self,
        types: list[str],
        total: int | None,
        backend: BackendChoice,
        report: GenerateReport,
        on_progress: ProgressCallback | None,
        stop: threading.Event | None,
        only: dict[str, list[WorkItem]] | None = None,
        store: LanguageStore | None = None,
        retry_pairs: Counter[str] | None = None,
    ) -> RunReport | None:
        vocab = self.vocabulary
        pool, answer = self._pool(backend, report.messages)
        report.pool = pool.names()
        if store is None:
            store = LanguageStore(self.paths, self.backups).open()
            report.messages.extend(store.messages)
        progress = store.progress
        all_items = build_items(vocab)
        config_hash = vocab.config_hash()
        priority = self._config_change(progress, all_items, config_hash, report.messages)
        progress.pending_new = {
            item.key
            for t, v in all_items.items()
            for item in v
            if item.key in priority and len(progress.item_outcomes(t, item.key)) < pool.per_prompt
        }
        items = only or {t: all_items[t] for t in types}
        k = pool.per_prompt
        if only is not None:
            pairs = retry_pairs or Counter()
            targets = {t: store.count(t) + pairs[t] for t in only}
        else:
            capacity = {t: len(all_items[t]) * k for t in types}
            total = total or self.config.language_samples
            planned = allocate(total, capacity, self.config.weights)
            targets = {}
            for t in types:
                new = sum(1 for item in all_items[t] if item.key in priority) * k
                targets[t] = max(planned[t], min(capacity[t], store.count(t) + new))
            progress.targets.update(targets)
        progress.known_items = {item.key for v in all_items.values() for item in v}
        if all(store.count(t) >= targets[t] for t in items):
            report.messages.append(
                "language dataset already has its target "
                f"({sum(store.count(t) for t in items):,} samples in these types); nothing to ask"
            )
            if progress.config_hash != config_hash:
                progress.config_hash = config_hash
                progress.save(self.paths.progress)
            store.close()
            return None
        report.backups = [
            b
            for b in (self.backups.backup(p) for p in (self.paths.language, self.paths.progress))
            if b
        ]
        live = [m for m in pool.active(progress.questions_processed) if m.backend == "ollama"]
        if live and isinstance(answer, Answerers):
            answer.warm(live)
        generator = LanguageGenerator(
            store,
            items,
            targets,
            pool,
            answer,
            self.config,
            quality=QualityFilter(self.config.min_words, self.config.near_duplicate),
            config_hash=config_hash,
            priority=priority,
            on_progress=on_progress,
            stop=stop,
        )
        return generator.run()

    def _config_change(
        self,
        progress: Any,
        all_items: dict[str, list[WorkItem]],
        config_hash: str,
        messages: list[str],
    ) -> set[str]:
        """The prompts that are new since the last run when the vocabulary changed (they go
        first); says what changed."""
        keys = {item.key for v in all_items.values() for item in v}
        carried = progress.pending_new & keys
        if not progress.config_hash or progress.config_hash == config_hash:
            if carried:
                messages.append(
                    f"{len(carried)} prompt(s) new in the last vocabulary change are still to "
                    "ask; they go first"
                )
            return carried
        new = (keys - progress.known_items) | carried
        gone = progress.known_items - keys
        per_type = Counter(item.type for v in all_items.values() for item in v if item.key in new)
        listing = ", ".join(f"{t} {n}" for t, n in per_type.most_common()) or "none"
        messages.append(
            f"the vocabulary changed since the last run: {len(new)} new prompt(s) ({listing}) "
            f"are generated first; {len(gone)} prompt(s) no longer in it keep their samples "
            "(`vigil dataset reset` starts over)"
        )
        return new

    def _pool(self, backend: BackendChoice, messages: list[str]) -> tuple[Pool, Answerers]:
        members = choose_members(self.config, self.endpoints, backend, messages)
        providers = self._providers(members)
        answer = Answerers(
            providers,
            StaticResponder(self.vocabulary),
            temperature=self.config.temperature,
            timeout_s=self.config.timeout.total_seconds(),
            redactor=self.redactor if self.endpoints.privacy == "redact" else None,
        )
        return Pool(members, self.config.models_per_prompt, self.config.swap_interval), answer

    def _providers(self, members: Sequence[Member]) -> dict[str, Provider]:
        providers: dict[str, Provider] = {}
        e = self.endpoints
        for member in members:
            key = provider_key(member)
            if key in providers or member.backend == "static":
                continue
            if member.backend == "ollama":
                from knowledge.llm.ollama import OllamaProvider

                assert e.ollama_host is not None
                providers[key] = OllamaProvider(e.ollama_host, keep_alive=self.config.keep_alive)
            elif member.backend == "openai":
                from knowledge.llm.openai import OpenAIProvider

                providers[key] = OpenAIProvider(e.openai_api_key, e.openai_base_url)
            else:
                from knowledge.llm.transformers import TransformersProvider

                providers[key] = TransformersProvider(member.model)
        return providers

    # ------------------------------------------------------------------ retry, reset
    def retry_failed(
        self,
        backend: BackendChoice = "auto",
        on_progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> GenerateReport:
        """Ask again every (prompt, model) pair that failed, with the pool as configured now."""
        report = GenerateReport()
        with self._lock():
            store = LanguageStore(self.paths, self.backups).open()
            report.messages.extend(store.messages)
            failures = store.progress.failures()
            if not failures:
                store.close()
                report.messages.append("no failed prompts to retry")
                return report
            for t, item, member, _ in failures:
                store.progress.forget(t, item, member)
            failed_keys = {(t, item) for t, item, _, _ in failures}
            all_items = build_items(self.vocabulary)
            only = {
                t: [i for i in all_items[t] if (t, i.key) in failed_keys]
                for t in {t for t, _ in failed_keys}
                if t in all_items
            }
            gone = len(failed_keys) - sum(len(v) for v in only.values())
            if gone:
                report.messages.append(
                    f"{gone} failed prompt(s) are no longer in the vocabulary; dropped"
                )
            pairs = Counter(t for t, item, _, _ in failures if t in only)
            report.language = self._language(
                sorted(only),
                None,
                backend,
                report,
                on_progress,
                stop,
                only=only,
                store=store,
                retry_pairs=pairs,
            )
        return report

    def reset(self, types: Sequence[str] | None = None) -> list[Path]:
        """Back up, then delete the datasets (``types``: ``language``/``metrics``; default
        both) and the language progress. Returns the backups made."""
        what = set(types or ("language", METRICS))
        made: list[Path] = []
        with self._lock():
            files: list[Path] = []
            if "language" in what:
                files += [self.paths.language, self.paths.progress, self.paths.journal]
            if METRICS in what:
                files.append(self.paths.metrics)
            for path in files:
                if path != self.paths.journal and (backup := self.backups.backup(path)):
                    made.append(backup)
            for path in files:
                path.unlink(missing_ok=True)
        return made

    # ------------------------------------------------------------------ reading
    def status(self) -> Status:
        store = LanguageStore(self.paths, self.backups).open(read_only=True)
        store.close()
        progress = store.progress
        items = build_items(self.vocabulary)
        types = []
        for t in SAMPLE_TYPES:
            counts = progress.counts(t)
            types.append(
                TypeStatus(
                    t,
                    store.count(t),
                    progress.targets.get(t, 0),
                    counts[FAILED],
                    counts["rejected"],
                    len(items.get(t, [])),
                )
            )
        meta, message = read_metrics_meta(self.paths.metrics, self.backups, read_only=True)
        messages = list(store.messages) + ([message] if message else [])
        return Status(
            types=types,
            rate=progress.rate(),
            metrics_done=int(meta["total_samples"]) if meta else 0,
            metrics_target=self.config.metrics_samples,
            config_changed=bool(progress.config_hash)
            and progress.config_hash != self.vocabulary.config_hash(),
            last_session=progress.sessions[-1] if progress.sessions else None,
            messages=messages,
        )

    def summary(self) -> dict[str, Any]:
        """Distribution of the language samples by type, model and model type; why answers were
        rejected; and the metrics dataset's statistics."""
        store = LanguageStore(self.paths, self.backups).open(read_only=True)
        store.close()
        samples = list(store.samples.values())
        meta, _ = read_metrics_meta(self.paths.metrics, self.backups, read_only=True)
        return {
            "language": {
                "total_samples": len(samples),
                "by_type": dict(Counter(s["type"] for s in samples).most_common()),
                "by_model": dict(Counter(s["model"] for s in samples).most_common()),
                "by_model_type": dict(Counter(s["model_type"] for s in samples).most_common()),
                "rejected": dict(store.progress.rejected_reasons().most_common()),
                "failed": len(store.progress.failures()),
                "ok": sum(store.progress.counts(t)[OK] for t in SAMPLE_TYPES),
            },
            "metrics": {
                "total_samples": meta["total_samples"],
                "anomaly_ratio": meta["anomaly_ratio"],
                "generation_stats": meta["generation_stats"],
            }
            if meta
            else None,
        }

    # ------------------------------------------------------------------ lock
    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        path = self.paths.root / ".generate.lock"
        handle = path.open("a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise GenerationBusy(
                    f"{self.paths.root} is being generated by process {holder}; wait for it "
                    "or stop it (its progress is kept)"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()


def check_types(types: Sequence[str] | None) -> list[str]:
    """``types`` checked (sample types and ``metrics``); default all of them."""
    if not types:
        return [*SAMPLE_TYPES, METRICS]
    known = (*SAMPLE_TYPES, METRICS)
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ConfigError(
            "--types", "command line", f"sample types among {', '.join(known)}", unknown[0]
        )
    return list(dict.fromkeys(types))


def choose_members(
    config: DatasetConfig, endpoints: Endpoints, backend: BackendChoice, messages: list[str]
) -> list[Member]:
    """The pool for this run: ``datasets.pool`` (or the answering LLM's models, or the static
    templates), narrowed to ``backend``, without LLMs when privacy forbids sending anything."""
    if config.pool:
        members = [
            static_member() if p.backend == "static" else Member(p.backend, p.model)
            for p in config.pool
        ]
    elif endpoints.answering_backend in ("ollama", "openai"):
        members = [Member(endpoints.answering_backend, m) for m in endpoints.answering_models]
    elif endpoints.answering_backend == "transformers" and endpoints.local_model:
        members = [Member("transformers", endpoints.local_model)]
    else:
        members = [static_member()]
    if backend == "static":
        members = [static_member()]
    elif backend != "auto":
        members = [m for m in members if m.backend == backend]
        if not members:
            raise ConfigError(
                "--backend",
                "command line",
                f"a backend in the pool (datasets.pool in ai-config.yml has no {backend} model)",
                backend,
            )
    local = ("static", "transformers")  # answer in this process: nothing leaves the machine
    if endpoints.privacy == "block" and any(m.backend not in local for m in members):
        messages.append(
            "privacy.external_llm is block: no LLM endpoint is asked; "
            + (
                "the local models answer"
                if any(m.backend in local for m in members)
                else "the static templates answer"
            )
        )
        members = [m for m in members if m.backend in local] or [static_member()]
    for m in members:
        if m.backend == "ollama" and not endpoints.ollama_host:
            raise ConfigError("datasets.pool", "ai-config.yml", "ollama models need OLLAMA_HOST")
        if m.backend == "openai" and not (endpoints.openai_api_key or endpoints.openai_base_url):
            raise ConfigError(
                "datasets.pool",
                "ai-config.yml",
                "openai models need OPENAI_API_KEY or OPENAI_BASE_URL",
            )
    return members
