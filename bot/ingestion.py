"""Scheduled ingestion of every configured source: one job per source, each with its own
interval and timeout, so a slow source never holds up the others.

A source that fails backs off exponentially (``every``, 2x, 4x ... up to ``MAX_BACKOFF``); the
ops channel hears once when it goes down and once when it is back, never once per failed run.
Watermarks persist under ``VIGIL_DATA_DIR/sources/watermarks.json``: after a restart or an
outage each source resumes where it stopped, so there is no gap (and stable ids mean no
duplicate). A source that is behind catches up in several passes within one run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from knowledge.errors import StoreError
from knowledge.ingest import SourceRun, ingest_source, plan_range
from knowledge.sources.base import Redact, Source, one_line
from knowledge.statefile import StateWriteError, Watermarks
from knowledge.store import KnowledgeStore
from knowledge.timeparse import format_duration

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)
CATCH_UP_SHARE = 0.6
"""A run keeps catching up while it has used less than this share of its timeout."""

Notify = Callable[[str, bool], Awaitable[None]]
"""``notify(text, is_error)``: posts to the ops channel."""


@dataclass
class SourceHealth:
    """What the runner knows about one source between runs."""

    failures: int = 0
    down_since: datetime | None = None
    last_error: str = ""
    retry_at: float = 0.0  # time.monotonic()
    last: SourceRun | None = None
    runs: int = 0
    items: int = 0
    documents: int = 0
    busy_s: float = 0.0
    in_flight: asyncio.Future[SourceRun] | None = field(default=None, repr=False)

    @property
    def down(self) -> bool:
        return self.failures > 0


class Ingestion:
    """Runs ingestion passes for the sources and keeps their health, lag and throughput."""

    def __init__(
        self,
        store: KnowledgeStore,
        sources: Sequence[Source],
        watermarks: Watermarks,
        redact: Redact,
        now: Callable[[], datetime],
        notify: Notify | None = None,
        max_backoff: timedelta = MAX_BACKOFF,
    ) -> None:
        self.store = store
        self.sources = {s.name: s for s in sources}
        self.watermarks = watermarks
        self.redact = redact
        self.now = now
        self.notify = notify
        self.max_backoff = max_backoff
        self.health = {name: SourceHealth() for name in self.sources}

    async def run(self, name: str) -> SourceRun | None:
        """One scheduled run of source ``name``. Never raises. ``None`` when skipped (backing
        off, or the previous run is still going)."""
        source = self.sources.get(name)
        if source is None:
            log.warning("ingest job names source %r, which is not configured; skipped", name)
            return None
        state = self.health[name]
        if state.in_flight is not None and not state.in_flight.done():
            log.info("ingest %s: the previous run is still going; skipped", name)
            return None
        if time.monotonic() < state.retry_at:
            return None
        timeout = source.config.timeout.total_seconds()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._passes, source, timeout * CATCH_UP_SHARE)
        state.in_flight = future
        try:
            run = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            run = SourceRun(
                name,
                "error",
                watermark=self.watermarks.get(name),
                reason=f"timed out after {timeout:g}s (it keeps running in the background)",
                seconds=timeout,
            )
        await self._record(source, run)
        return run

    def _passes(self, source: Source, budget_s: float) -> SourceRun:
        """Ingestion passes until caught up, failed, or out of ``budget_s``; one combined run."""
        began = time.perf_counter()
        total: SourceRun | None = None
        while True:
            try:
                run = ingest_source(self.store, source, self.watermarks, self.now(), self.redact)
            except (StoreError, StateWriteError) as exc:  # ours, not the source's: no trace
                run = SourceRun(
                    source.name,
                    "error",
                    reason=f"not the source: Vigil's own storage failed: {exc}",
                )
            except Exception as exc:  # a bug must not stop ingestion of the other sources
                log.exception("ingest %s failed unexpectedly", source.name)
                run = SourceRun(source.name, "error", reason=one_line(exc))
            total = run if total is None else total.plus(run)
            behind = plan_range(source.config, self.watermarks.get(source.name), self.now())
            if (
                run.status in ("error", "idle")
                or behind is None
                or time.perf_counter() - began > budget_s
                or run.end is None
                or behind[0] <= run.start  # type: ignore[operator]
            ):
                break
        return replace(total, seconds=time.perf_counter() - began)

    async def _record(self, source: Source, run: SourceRun) -> None:
        state = self.health[source.name]
        state.runs += 1
        state.last = run
        state.items += run.items
        state.documents += run.documents
        state.busy_s += run.seconds
        if run.status != "error":
            if state.down:
                await self._recovered(source, state)
            state.failures, state.retry_at, state.down_since = 0, 0.0, None
            return
        state.failures += 1
        state.last_error = run.reason
        delay = min(source.config.every * 2 ** (state.failures - 1), self.max_backoff)
        state.retry_at = time.monotonic() + delay.total_seconds()
        log.warning(
            "ingest %s failed (%d in a row; next try in %s): %s",
            source.name,
            state.failures,
            format_duration(delay),
            run.reason,
        )
        if state.failures == 1:
            state.down_since = self.now()
            await self._say(
                f"Source `{source.name}` is down: {run.reason}. Ingestion retries with backoff "
                f"(next try in {format_duration(delay)}); answers use what is already stored.",
                True,
            )

    async def _recovered(self, source: Source, state: SourceHealth) -> None:
        mark = self.watermarks.get(source.name)
        down_for = self.now() - state.down_since if state.down_since else None
        await self._say(
            f"Source `{source.name}` is back after {state.failures} failed run(s)"
            + (f" ({format_duration(down_for)} down)" if down_for else "")
            + (f"; ingested up to {mark:%Y-%m-%d %H:%M} UTC, no gap." if mark else "."),
            False,
        )

    async def _say(self, text: str, error: bool) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(text, error)
        except Exception:
            log.exception("ingestion notice could not be posted")

    def lines(self) -> list[str]:
        """One line per source: state, lag, last run and throughput (for ``status``)."""
        now = self.now()
        out = []
        for name, state in self.health.items():
            mark = self.watermarks.get(name)
            lag = format_duration(max(now - mark, timedelta(0))) if mark else "not started"
            if state.down:
                head = f"{name}: down ({state.failures} failed runs): {state.last_error}"
            else:
                head = f"{name}: ok"
            rate = state.items / state.busy_s if state.busy_s > 0 else 0.0
            out.append(
                f"{head}; lag {lag}; {state.runs} runs, {state.items:,} items "
                f"({rate:,.0f}/s while running), {state.documents:,} documents"
            )
        return out

    async def wait_idle(self) -> None:
        """Let runs still going in the background finish (at shutdown)."""
        pending = [s.in_flight for s in self.health.values() if s.in_flight is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def close(self) -> None:
        for source in self.sources.values():
            try:
                source.close()
            except Exception:
                log.warning("closing source %s failed", source.name, exc_info=True)
