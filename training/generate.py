"""Generating the language dataset: prompts from the vocabulary, asked of a rotating pool of
models, concurrently within per-backend limits, filtered for quality, recorded as they complete.

The unit of work is a pair (prompt, model). Each prompt wants ``models_per_prompt`` answers from
different models. Every outcome (a sample, a rejection, a failure after the retries) is journaled
at once, and the dataset and progress files are checkpointed every few seconds, so a run killed
at any point resumes where it was: finished pairs are never asked again, and ids are
deterministic (type, prompt key, model), so nothing is counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from knowledge.errors import ProviderError
from knowledge.statefile import write_json_atomic
from training.backends import Answer, Member, Pool
from training.dataset_config import DatasetConfig
from training.language_store import LanguageStore, sample_id
from training.progress import FAILED, OK, REJECTED
from training.prompts import WorkItem
from training.quality import QualityFilter

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called with (samples done, samples wanted) in the types being generated."""


def allocate(
    total: int, capacity: Mapping[str, int], weights: Mapping[str, float]
) -> dict[str, int]:
    """Split ``total`` samples over the types in ``capacity`` in proportion to ``weights``
    (default 1), never above a type's capacity; what a full type cannot take goes to the others."""
    targets = {t: 0 for t in capacity}
    open_types = [t for t in capacity if capacity[t] > 0 and weights.get(t, 1.0) > 0]
    left = total
    while left > 0 and open_types:
        weight = sum(weights.get(t, 1.0) for t in open_types)
        shares = {t: left * weights.get(t, 1.0) / weight for t in open_types}
        given = 0
        for t in open_types:
            share = min(int(shares[t]), capacity[t] - targets[t])
            targets[t] += share
            given += share
        if given == 0:  # fractions only: hand them out one by one, largest share first
            for t in sorted(open_types, key=lambda t: -shares[t]):
                if left - given > 0 and targets[t] < capacity[t]:
                    targets[t] += 1
                    given += 1
        left -= given
        open_types = [t for t in open_types if targets[t] < capacity[t]]
    return targets


def session_name(now: datetime) -> str:
    return f"session_{now.astimezone(UTC):%Y%m%d_%H%M%S}"


def stamp(now: datetime) -> str:
    """A sample's timestamp as the origin writes it (UTC, no zone)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class Pair:
    item: WorkItem
    member: Member
    q: int  # the prompt's number in the rotation
    attempts: int = 1
    not_before: float = 0.0  # monotonic time before which a retry is not sent


@dataclass
class RunReport:
    """What one generation run did."""

    session_id: str
    generated: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    seconds: float = 0.0
    done: dict[str, int] = field(default_factory=dict)  # samples per type now
    targets: dict[str, int] = field(default_factory=dict)
    exhausted: list[str] = field(default_factory=list)  # types short of prompts
    down: list[str] = field(default_factory=list)  # models left out after failing repeatedly
    messages: list[str] = field(default_factory=list)
    interrupted: bool = False
    per_model: Counter[str] = field(default_factory=Counter)
    latency_s: dict[str, list[float]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else 0.0


class LanguageGenerator:
    """One run over ``items`` (per type, in order) until each type has its target."""

    def __init__(
        self,
        store: LanguageStore,
        items: Mapping[str, Sequence[WorkItem]],
        targets: Mapping[str, int],
        pool: Pool,
        answer: Answer,
        config: DatasetConfig,
        *,
        quality: QualityFilter,
        config_hash: str,
        priority: set[str] | None = None,
        on_progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.items = {t: list(v) for t, v in items.items()}
        self.targets = dict(targets)
        self.pool = pool
        self.answer = answer
        self.config = config
        self.quality = quality
        self.config_hash = config_hash
        self.priority = priority or set()
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.clock = clock
        self.session_id = session_name(clock())
        self.report = RunReport(self.session_id)
        self._expected: Counter[str] = Counter()  # pairs queued or in flight, per type
        self._streak: Counter[Member] = Counter()  # consecutive failures per model
        self._queues: dict[str, deque[Pair]] = {}
        self._inflight: dict[Future[str], tuple[Pair, float]] = {}
        self._busy: Counter[str] = Counter()
        self._pending: dict[str, set[str]] = {}  # prompt key -> models queued or in flight
        self._last_failure: dict[Member, float] = {}
        self.retry_delay_s = 0.5
        """First retry after this long, doubling (rate limits come in bursts)."""
        self.streak_window_s = 1.0
        """Failures of one model closer together than this count once towards give_up_after."""

    # ------------------------------------------------------------------ the run
    def run(self) -> RunReport:
        started = time.perf_counter()
        for text in (s["response"] for s in self.store.samples.values()):
            self.quality.remember(text)
        feeds = {t: self._feed(t) for t in self.items}
        workers = sum(self.config.limit(b) for b in {m.backend for m in self.pool.members})
        last_checkpoint = time.perf_counter()
        checkpoint_cost = 0.0
        executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="distil")
        try:
            while not self.stop.is_set():
                if len(self.pool.down) == len(self.pool.members) and not self._inflight:
                    self._abandon()
                    break
                self._refill(feeds)
                self._submit(executor)
                wanting = any(self._wanted(t) > 0 for t in feeds)
                if not self._inflight and not any(self._queues.values()) and not wanting:
                    break
                if self._inflight:
                    finished, _ = wait(
                        list(self._inflight), timeout=0.25, return_when=FIRST_COMPLETED
                    )
                    for future in finished:
                        self._finish(future)
                now = time.perf_counter()
                interval = max(self.config.checkpoint_every.total_seconds(), 10 * checkpoint_cost)
                if now - last_checkpoint >= interval:
                    self._checkpoint(time.perf_counter() - started)
                    checkpoint_cost = time.perf_counter() - now
                    last_checkpoint = time.perf_counter()
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            self.report.interrupted = self.stop.is_set()
            if self.report.interrupted:
                for future in self._inflight:
                    future.cancel()
            # answers already running are waited for (up to the timeout) and kept
            executor.shutdown(wait=True, cancel_futures=True)
            for future in list(self._inflight):
                if future.done() and not future.cancelled():
                    self._finish(future)
            self.report.seconds = time.perf_counter() - started
            self._checkpoint(self.report.seconds, final=True)
            self.store.close()
        self.report.done = {t: self.store.count(t) for t in self.items}
        self.report.targets = dict(self.targets)
        return self.report

    # ------------------------------------------------------------------ scheduling
    def _feed(self, type_: str) -> Iterator[Pair]:
        """The pairs still to ask for ``type_``: prompts with open slots, in order (prompts new
        in the config first), each given the models of its rotation window. Pulled only while
        the type wants more, so a run never overshoots its target."""
        ordered = sorted(self.items[type_], key=lambda item: item.key not in self.priority)
        for item in ordered:
            taken = self._taken(item)
            open_slots = self.pool.per_prompt - len(taken)
            if open_slots <= 0:
                continue
            q = self.store.progress.questions_processed
            members = self._members_for(q, taken)[:open_slots]
            if not members:
                continue
            self.store.progress.questions_processed += 1
            for member in members:
                yield self._pair(item, member, q)

    def _pair(self, item: WorkItem, member: Member, q: int) -> Pair:
        self._pending.setdefault(item.key, set()).add(member.slug)
        return Pair(item, member, q)

    def _settle(self, pair: Pair) -> None:
        pending = self._pending.get(pair.item.key)
        if pending is not None:
            pending.discard(pair.member.slug)
            if not pending:
                del self._pending[pair.item.key]

    def _taken(self, item: WorkItem) -> set[str]:
        """Models that answered this prompt, or are asked it now."""
        done = self.store.progress.item_outcomes(item.type, item.key)
        return set(done) | self._pending.get(item.key, set())

    def _members_for(self, q: int, taken: set[str]) -> list[Member]:
        chosen = [m for m in self.pool.active(q) if m.slug not in taken]
        spares = [m for m in self.pool.members if m not in self.pool.down and m not in chosen]
        chosen += [m for m in spares if m.slug not in taken]
        return chosen

    def _wanted(self, type_: str) -> int:
        return self.targets.get(type_, 0) - self.store.count(type_) - self._expected[type_]

    def _refill(self, feeds: dict[str, Iterator[Pair]]) -> None:
        """Queue pairs round-robin over the types that want more, while there is room; run
        static pairs at once (they need no thread). Returns within ~0.2 s so that checkpoints
        and stop requests are not held up."""
        room = 2 * sum(self.config.limit(b) for b in {m.backend for m in self.pool.members}) + 2
        until = time.perf_counter() + 0.2
        if len(self.pool.down) == len(self.pool.members):
            return
        while sum(len(q) for q in self._queues.values()) < room and time.perf_counter() < until:
            pulled = False
            for type_ in list(feeds):
                if self.stop.is_set():
                    return
                if self._wanted(type_) <= 0:
                    continue
                pair = next(feeds[type_], None)
                if pair is None:
                    del feeds[type_]
                    if type_ not in self.report.exhausted:
                        self.report.exhausted.append(type_)
                    continue
                pulled = True
                self._expected[type_] += 1
                if pair.member.backend == "static":
                    self._static(pair)
                else:
                    self._queues.setdefault(pair.member.backend, deque()).append(pair)
            if not pulled:
                return

    def _static(self, pair: Pair) -> None:
        began = time.perf_counter()
        text = self.answer(pair.member, pair.item)
        self._answered(pair, text, time.perf_counter() - began)

    def _submit(self, executor: ThreadPoolExecutor) -> None:
        now = time.monotonic()
        for backend, queue in list(self._queues.items()):
            waiting: list[Pair] = []
            while queue and self._busy[backend] < self.config.limit(backend):
                pair = queue.popleft()
                if pair.member in self.pool.down:
                    self._reassign(pair)
                    continue
                if pair.not_before > now:  # a retry backing off
                    waiting.append(pair)
                    continue
                future = executor.submit(self.answer, pair.member, pair.item)
                self._inflight[future] = (pair, time.perf_counter())
                self._busy[backend] += 1
            queue.extend(waiting)

    def _finish(self, future: Future[str]) -> None:
        pair, began = self._inflight.pop(future)
        self._busy[pair.member.backend] -= 1
        try:
            text = future.result()
        except ProviderError as exc:
            self._retry_or_fail(pair, str(exc))
        except Exception as exc:  # a bug in a provider must not lose the run
            log.warning("%s failed unexpectedly: %s: %s", pair.member, type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)
            self._retry_or_fail(pair, f"{type(exc).__name__}: {exc}")
        else:
            self._streak[pair.member] = 0
            self._answered(pair, text, time.perf_counter() - began)

    def _retry_or_fail(self, pair: Pair, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_failure.get(pair.member, -1e9) >= self.streak_window_s:
            self._streak[pair.member] += 1  # a burst of failures counts once
            self._last_failure[pair.member] = now
        if (
            self._streak[pair.member] >= self.config.give_up_after
            and pair.member not in self.pool.down
        ):
            self.pool.down.add(pair.member)
            self.report.down.append(str(pair.member))
            self.report.messages.append(
                f"{pair.member} failed {self._streak[pair.member]} times in a row ({reason}); "
                "it is left out for the rest of this run"
            )
        if pair.attempts < self.config.attempts and pair.member not in self.pool.down:
            pair.not_before = now + self.retry_delay_s * 2 ** (pair.attempts - 1)
            pair.attempts += 1
            self._queues.setdefault(pair.member.backend, deque()).append(pair)
            return
        if pair.member in self.pool.down and self._reassign(pair):
            return
        self._failed(pair, reason)

    def _abandon(self) -> None:
        """Every model is down: record what is queued as failed and end the run."""
        for queue in self._queues.values():
            while queue:
                self._failed(queue.popleft(), "every model in the pool was down")
        self.report.messages.append(
            "every model in the pool is down; the run stopped (retry-failed asks the failed "
            "prompts again once they are back)"
        )

    def _reassign(self, pair: Pair) -> bool:
        """Give a down model's pair to another model this prompt has not heard from."""
        for member in self._members_for(pair.q, self._taken(pair.item)):
            if member != pair.member:
                self._settle(pair)
                moved = self._pair(pair.item, member, pair.q)
                if member.backend == "static":
                    self._static(moved)
                else:
                    self._queues.setdefault(member.backend, deque()).append(moved)
                return True
        self._failed(pair, f"{pair.member} is down and no other model is left")
        return True

    # ------------------------------------------------------------------ outcomes
    def _answered(self, pair: Pair, text: str, seconds: float) -> None:
        self._expected[pair.item.type] -= 1
        self._settle(pair)
        self.report.latency_s.setdefault(str(pair.member), []).append(seconds)
        verdict = self.quality.accept(text)
        now = self.clock()
        base = self._event(pair, now)
        if not verdict.ok:
            reason = (
                f"{verdict.reason}: {verdict.detail}" if verdict.detail else str(verdict.reason)
            )
            self.store.emit({**base, "kind": REJECTED, "reason": reason})
            self.report.rejected[str(verdict.reason)] += 1
            return
        item = pair.item
        sample = {
            "id": sample_id(item.type, item.key, pair.member.slug),
            "type": item.type,
            "prompt": item.prompt,
            "response": verdict.text,
            "model": str(pair.member),
            "model_type": pair.member.model_type,
            "session_id": self.session_id,
            "timestamp": stamp(now),
            "generation_batch": self.pool.window(pair.q),
            "term": item.term,
            "category": item.category,
            "system": item.system,
        }
        if not self.store.emit({**base, "kind": OK, "sample": sample}):
            return  # already in the dataset (cannot happen unless a model answered twice)
        self.report.generated += 1
        self.report.per_model[str(pair.member)] += 1
        if self.on_progress is not None:
            done = sum(self.store.count(t) for t in self.targets)
            self.on_progress(done, sum(self.targets.values()))

    def _failed(self, pair: Pair, reason: str) -> None:
        self._expected[pair.item.type] -= 1
        self._settle(pair)
        event = self._event(pair, self.clock())
        self.store.emit({**event, "kind": FAILED, "reason": reason, "attempts": pair.attempts})
        self.report.failed += 1

    def _event(self, pair: Pair, now: datetime) -> dict[str, Any]:
        return {
            "type": pair.item.type,
            "item": pair.item.key,
            "member": pair.member.slug,
            "q": pair.q,
            "at": now.astimezone(UTC).isoformat(),
        }

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, seconds: float, *, final: bool = False) -> None:
        progress = self.store.progress
        progress.session_id = self.session_id
        progress.config_hash = self.config_hash
        stats = self._session_stats(seconds, final)
        sessions = [s for s in progress.sessions if s.get("session_id") != self.session_id]
        progress.sessions = [*sessions, stats]
        self.store.checkpoint(
            session_id=self.session_id,
            config_hash=self.config_hash,
            new_samples_added=self.report.generated,
            model_pool=self.pool.names(),
            swap_interval=self.pool.swap_interval,
            questions_processed=progress.questions_processed,
        )
        logs = self.store.paths.logs
        write_json_atomic(logs / f"{self.session_id}.json", stats)

    def _session_stats(self, seconds: float, final: bool) -> dict[str, Any]:
        latency = {
            model: round(sorted(values)[len(values) // 2], 4)
            for model, values in self.report.latency_s.items()
            if values
        }
        return {
            "session_id": self.session_id,
            "config_hash": self.config_hash,
            "finished": final,
            "interrupted": final and self.stop.is_set(),
            "seconds": round(seconds, 3),
            "generated": self.report.generated,
            "rejected": dict(self.report.rejected),
            "failed": self.report.failed,
            "rate": round(self.report.generated / seconds, 3) if seconds > 0 else 0.0,
            "per_model": dict(self.report.per_model),
            "median_latency_s": latency,
            "down": list(self.report.down),
            "pool": self.pool.names(),
            "targets": dict(self.targets),
        }
