"""The scheduler against a real SQLite job store: persistence, coalescing, failures, timeouts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import JobSchedule
from bot.scheduler import VigilScheduler
from knowledge.errors import ConfigError


def every(seconds: float, **kw: Any) -> JobSchedule:
    return JobSchedule(every=timedelta(seconds=seconds), **kw)


class Recorder:
    def __init__(self) -> None:
        self.runs: dict[str, int] = {}

    def job(self, name: str, fail: bool = False, sleep: float = 0):
        async def run(args: Mapping[str, Any]) -> None:
            self.runs[name] = self.runs.get(name, 0) + 1
            if sleep:
                await asyncio.sleep(sleep)
            if fail:
                raise RuntimeError(f"{name} broke")

        return run


async def test_next_run_time_survives_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "scheduler.sqlite"
    rec = Recorder()
    schedules = {
        "hourly": every(3600),
        "daily": JobSchedule(cron="0 9 * * *", timezone="Europe/London"),
    }
    first = VigilScheduler(store, schedules, {"hourly": rec.job("h"), "daily": rec.job("d")})
    first.start()
    before = first.next_run_times()
    first.shutdown()
    await asyncio.sleep(1.1)

    second = VigilScheduler(store, schedules, {"hourly": rec.job("h"), "daily": rec.job("d")})
    second.start()
    try:
        assert second.next_run_times() == before  # kept, not recomputed from the restart time
    finally:
        second.shutdown()
    assert rec.runs == {}


async def test_changed_trigger_replaces_the_stored_job_and_removed_jobs_go(tmp_path: Path) -> None:
    store = tmp_path / "scheduler.sqlite"
    rec = Recorder()
    first = VigilScheduler(
        store, {"a": every(3600), "b": every(3600)}, {"a": rec.job("a"), "b": rec.job("b")}
    )
    first.start()
    old = first.next_run_times()["a"]
    first.shutdown()
    second = VigilScheduler(store, {"a": every(60)}, {"a": rec.job("a"), "b": rec.job("b")})
    second.start()
    try:
        runs = second.next_run_times()
        assert set(runs) == {"a"}
        assert runs["a"] is not None and runs["a"] < old
    finally:
        second.shutdown()


async def test_runs_missed_while_down_are_coalesced_into_one(tmp_path: Path) -> None:
    store = tmp_path / "scheduler.sqlite"
    rec = Recorder()
    jobs = {"tick": rec.job("tick")}
    first = VigilScheduler(store, {"tick": every(1.5)}, jobs)
    first.start()
    first.shutdown()  # stops before its first run, due at +1.5 s
    await asyncio.sleep(4.6)  # the runs at +1.5, +3.0 and +4.5 s are missed
    second = VigilScheduler(store, {"tick": every(1.5)}, jobs)
    second.start()
    await asyncio.sleep(0.5)  # the next regular run is due at +6.0 s
    await second.stop()
    assert rec.runs.get("tick") == 1


async def test_a_failing_job_is_logged_and_the_others_keep_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    notices: list[str] = []

    async def on_failure(name: str, stats: Any) -> None:
        notices.append(f"failed {name}: {stats.last_error}")

    scheduler = VigilScheduler(
        tmp_path / "s.sqlite",
        {"bad": every(0.3), "good": every(0.3)},
        {"bad": rec.job("bad", fail=True), "good": rec.job("good")},
        on_failure=on_failure,
    )
    with caplog.at_level(logging.ERROR):
        scheduler.start()
        await asyncio.sleep(1.5)
        await scheduler.stop()
    assert rec.runs["good"] >= 3
    assert rec.runs["bad"] >= 3
    assert scheduler.stats["bad"].failures == rec.runs["bad"]
    assert scheduler.stats["good"].failures == 0
    failure_logs = [r for r in caplog.records if "job bad failed" in r.getMessage()]
    assert failure_logs and "bad broke" in failure_logs[0].getMessage()
    assert "run 1" in failure_logs[0].getMessage() and failure_logs[0].exc_info
    assert notices == ["failed bad: RuntimeError: bad broke"]  # one notice, not a flood


async def test_recovery_is_announced_once(tmp_path: Path) -> None:
    outcomes = iter([True, True, False, False, False])
    events: list[str] = []

    async def flaky(args: Mapping[str, Any]) -> None:
        if next(outcomes):
            raise RuntimeError("down")

    async def note(kind: str):
        async def hook(name: str, stats: Any) -> None:
            events.append(f"{kind}:{stats.consecutive_failures}")

        return hook

    scheduler = VigilScheduler(
        tmp_path / "s.sqlite",
        {"f": every(3600)},
        {"f": flaky},
        on_failure=await note("failed"),
        on_recovery=await note("ok"),
    )
    for _ in range(4):
        await scheduler.run_job("f")
    assert events == ["failed:1", "ok:2"]


async def test_a_hanging_job_times_out(tmp_path: Path) -> None:
    rec = Recorder()
    scheduler = VigilScheduler(
        tmp_path / "s.sqlite",
        {"slow": every(3600, timeout=timedelta(seconds=0.2))},
        {"slow": rec.job("slow", sleep=30)},
    )
    ok = await asyncio.wait_for(scheduler.run_job("slow"), 5)
    assert not ok
    assert scheduler.stats["slow"].last_error == "timed out after 0.2s"


def test_unknown_job_kind_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        VigilScheduler(
            tmp_path / "s.sqlite",
            {"nightly": every(60, job="digets")},
            {"digest": Recorder().job("d")},
        )
    assert err.value.key == "schedules.nightly.job"
    assert "digest" in err.value.expected


def test_disabled_jobs_are_not_scheduled(tmp_path: Path) -> None:
    scheduler = VigilScheduler(
        tmp_path / "s.sqlite", {"off": every(60, enabled=False)}, {"off": Recorder().job("off")}
    )
    assert scheduler.schedules == {}


async def test_a_job_still_running_at_stop_is_cancelled_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    scheduler = VigilScheduler(
        tmp_path / "scheduler.sqlite",
        {"slow": every(0.2, timeout=timedelta(seconds=60))},
        {"slow": rec.job("slow", sleep=30)},
    )
    scheduler.start()
    for _ in range(50):
        if rec.runs.get("slow"):
            break
        await asyncio.sleep(0.1)
    assert rec.runs.get("slow") == 1
    with caplog.at_level(logging.INFO):
        await scheduler.stop(grace_s=0.2)
        await asyncio.sleep(0.1)  # let the cancelled job task finish
    cancelled = [r for r in caplog.records if "cancelled after" in r.getMessage()]
    assert len(cancelled) == 1 and cancelled[0].getMessage().startswith("job slow cancelled")
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged
