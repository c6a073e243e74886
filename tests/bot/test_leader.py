"""One scheduler among replicas: the lease itself, the leadership loop, and real replica
processes sharing one job store (kill -9 of the leader, graceful hand-over)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.leader import LeaderLease, Leadership, default_holder

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lease(url: str, holder: str, clock: Clock, lease_s: float = 10) -> LeaderLease:
    return LeaderLease(url, lease_s, holder=holder, clock=clock)


def test_one_holder_at_a_time_until_the_lease_runs_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    clock = Clock()
    a, b = _lease(url, "pod-a:1", clock), _lease(url, "pod-b:1", clock)
    assert a.acquire()
    assert not b.acquire()
    clock.now += 9
    assert a.acquire()  # renewed: runs to now + 10
    clock.now += 9
    assert not b.acquire()
    assert b.state().holder == "pod-a:1"
    clock.now += 1.5  # a stopped renewing
    assert b.acquire()
    assert not a.acquire()
    assert a.state().holder == "pod-b:1"


def test_release_hands_over_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    clock = Clock()
    a, b = _lease(url, "pod-a:1", clock), _lease(url, "pod-b:1", clock)
    assert a.acquire()
    a.release()
    assert b.acquire()
    b.release()
    assert b.state().expires_in_s == 0


def test_a_killed_holder_on_this_host_is_not_waited_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    clock = Clock()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = _lease(url, default_holder().rsplit(":", 1)[0] + f":{dead.pid}", clock)
    assert gone.acquire()
    assert _lease(url, default_holder(), clock).acquire()
    # a live process here (this one, as another app instance) is waited out like any other
    other = _lease(url, default_holder("second"), clock)
    assert not other.acquire()


async def test_leadership_steps_down_when_it_cannot_renew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []

    class FlakyLease(LeaderLease):
        down = False

        def acquire(self) -> bool:
            if self.down:
                raise OperationalError("select", {}, Exception("connection refused"))
            return super().acquire()

    lease = FlakyLease(f"sqlite:///{tmp_path / 'jobs.sqlite'}", 0.6, holder="pod-a:1")

    async def elected() -> None:
        events.append("elected")

    async def deposed() -> None:
        events.append("deposed")

    leadership = Leadership(lease, elected, deposed)
    await leadership.start()
    assert leadership.leader and leadership.holds_lease()
    assert events == ["elected"]
    lease.down = True
    caplog.set_level(logging.ERROR, logger="bot.leader")
    await asyncio.sleep(0.75)  # past two thirds of the lease without a renewal
    assert not leadership.leader and not leadership.holds_lease()
    assert events == ["elected", "deposed"]
    failed = [r for r in caplog.records if "job store at sqlite:" in r.getMessage()]
    assert len(failed) == 1  # said once, not once per try
    lease.down = False
    await asyncio.sleep(0.5)
    assert leadership.leader and events[-1] == "elected"
    await leadership.stop()
    assert events[-1] == "deposed"
    assert lease.state().expires_in_s == 0  # released


def _start(url: str, out: Path, holder: str, lease_s: float) -> subprocess.Popen[str]:
    log = out.with_name(f"{holder.replace(':', '-')}.log")
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bot.leader_worker", url, str(out), holder, str(lease_s)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert proc.stdout is not None
    ready = proc.stdout.readline().strip()
    proc.stdout.close()
    assert ready == "ready", log.read_text()
    return proc


def _ticks(out: Path) -> list[tuple[str, float]]:
    if not out.exists():
        return []
    rows = [line.split() for line in out.read_text().splitlines() if line.strip()]
    return [(holder, float(at)) for holder, at in rows]


def _wait_for_tick_by(out: Path, holder: str, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        mine = [at for who, at in _ticks(out) if who == holder]
        if mine:
            return mine[0]
        time.sleep(0.05)
    raise AssertionError(f"{holder} never ran the job; ticks: {_ticks(out)}")


@pytest.mark.slow
def test_two_replicas_run_each_trigger_once_and_a_standby_takes_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared-jobs.sqlite'}"
    out = tmp_path / "ticks.txt"
    lease_s = 3.0
    # holders named as on other hosts, so the standby must wait the lease out
    leader = _start(url, out, "pod-a:1", lease_s)
    standby = _start(url, out, "pod-b:1", lease_s)
    procs = [leader, standby]
    try:
        time.sleep(4.5)
        before = _ticks(out)
        assert {who for who, _ in before} == {"pod-a:1"}, before
        assert len(before) >= 3
        leader.send_signal(signal.SIGKILL)
        leader.wait()
        killed_at = time.time()
        took_over_at = _wait_for_tick_by(out, "pod-b:1", timeout_s=lease_s + 6)
        # the lease runs out, the standby's next try takes it, its job fires
        assert took_over_at - killed_at < lease_s + lease_s / 3 + 1.5
        time.sleep(2.5)
        standby.send_signal(signal.SIGTERM)  # graceful: the lease is released
        assert standby.wait(timeout=15) == 0
        stopped_at = time.time()
        third = _start(url, out, "pod-c:1", lease_s)
        procs.append(third)
        resumed_at = _wait_for_tick_by(out, "pod-c:1", timeout_s=lease_s + 6)
        assert resumed_at - stopped_at < lease_s / 2 + 1.5  # no wait for a released lease
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    ticks = sorted(_ticks(out), key=lambda t: t[1])
    holders = [who for who, _ in ticks]
    switches = [h for i, h in enumerate(holders) if i == 0 or holders[i - 1] != h]
    assert switches == ["pod-a:1", "pod-b:1", "pod-c:1"]  # never two replicas at once
    # every one-second trigger ran once: a new leader's first run may be the coalesced one it
    # missed, just before the next one on time; after that, runs are a second apart
    firsts = {i for i in range(len(ticks)) if i == 0 or holders[i - 1] != holders[i]}
    gaps = [
        ticks[i][1] - ticks[i - 1][1]
        for i in range(1, len(ticks))
        if i not in firsts and i - 1 not in firsts
    ]
    assert min(gaps) > 0.5, ticks
    span = ticks[-1][1] - ticks[0][1]
    assert len(ticks) <= span + 1 + 2, ticks  # at most one run per second, plus two catch-ups


async def test_roles_decide_who_runs_the_jobs(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from bot.app import VigilApp

    shared = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    chat = VigilApp(make_settings(VIGIL_ROLE="chat", VIGIL_SCHEDULER_DB=shared), knowledge=False)
    first = VigilApp(make_settings(VIGIL_SCHEDULER_DB=shared), knowledge=False, instance="first")
    second = VigilApp(
        make_settings(VIGIL_ROLE="scheduler", VIGIL_SCHEDULER_DB=shared),
        knowledge=False,
        instance="second",
    )
    assert chat.leadership is None
    assert second.leadership is not None
    second.leadership.lease.lease_s = 1.5  # a standby retries every half second
    await chat.start()
    await first.start()
    await second.start()
    try:
        assert not chat.scheduler.running
        assert first.scheduler.running and first.leadership and first.leadership.leader
        assert not second.scheduler.running  # standby
        await first.stop()  # releases the lease; the standby's next try takes it
        await asyncio.sleep(second.leadership.interval_s + 0.5)
        assert second.scheduler.running and second.leadership.leader
    finally:
        for app in (chat, first, second):
            await app.stop()
    assert not second.scheduler.running


def test_a_database_that_comes_up_late_gets_the_lease_table(tmp_path: Path) -> None:
    # the first try fails before the table exists (the database is not up yet); the next
    # must create it rather than fail on "no such table" forever
    later = tmp_path / "not-yet"
    lease = _lease(f"sqlite:///{later / 'jobs.sqlite'}", "pod-a:1", Clock())
    with pytest.raises(OperationalError):
        lease.acquire()
    later.mkdir()
    assert lease.acquire()
    lease.close()


def test_expiry_is_stored_to_the_second_on_every_dialect() -> None:
    from sqlalchemy.dialects import mysql
    from sqlalchemy.schema import CreateTable

    from bot.leader import LEASES

    # MySQL's FLOAT is single precision: a Unix time in it is only good to ~2 minutes
    ddl = str(CreateTable(LEASES).compile(dialect=mysql.dialect()))
    assert "expires_at DOUBLE" in ddl


def test_a_missing_database_driver_is_a_config_error(tmp_path: Path) -> None:
    from knowledge.errors import ConfigError

    lease = _lease("nosuchdialect://vigil:hunter22@db/vigil", "pod-a:1", Clock())
    with pytest.raises(ConfigError, match="VIGIL_SCHEDULER_DB") as caught:
        lease.acquire()
    assert "hunter22" not in str(caught.value)


async def test_the_lease_counts_from_before_a_slow_renewal(tmp_path: Path) -> None:
    ticks = iter([100.0, 108.0])  # asked at 100, answered at 108

    lease = _lease(f"sqlite:///{tmp_path / 'jobs.sqlite'}", "pod-a:1", Clock(), lease_s=9)

    async def nothing() -> None:
        pass

    now = {"t": 0.0}
    leadership = Leadership(lease, nothing, nothing, monotonic=lambda: now["t"])
    now["t"] = next(ticks)
    original = lease.acquire

    def slow() -> bool:
        now["t"] = next(ticks)  # the database took 8 s to answer
        return original()

    lease.acquire = slow  # type: ignore[method-assignment]
    await leadership._tick()
    assert leadership.leader
    # sure of the lease for two thirds of it from when it was asked (100 + 6), not answered
    assert not leadership.holds_lease()
    lease.close()


async def test_jobs_that_cannot_start_release_the_lease_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    lease = LeaderLease(f"sqlite:///{tmp_path / 'jobs.sqlite'}", 0.6, holder="pod-a:1")

    async def elected() -> None:
        events.append("elected")
        if events.count("elected") == 1:
            raise OperationalError("create table", {}, Exception("database went away"))

    async def deposed() -> None:
        events.append("deposed")

    leadership = Leadership(lease, elected, deposed)
    caplog.set_level(logging.ERROR, logger="bot.leader")
    await leadership.start()  # does not raise
    assert not leadership.leader and events == ["elected", "deposed"]
    assert lease.state().expires_in_s == 0  # released for another replica
    assert any("could not start here" in r.getMessage() for r in caplog.records)
    await asyncio.sleep(0.45)  # the loop is alive: the next try starts the jobs
    assert leadership.leader and events[-1] == "elected"
    await leadership.stop()


def test_doctor_names_the_leader_of_a_shared_store_and_creates_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, inspect

    from bot.doctor import check_scheduler_store

    path = tmp_path / "shared.sqlite"
    settings = make_settings(VIGIL_SCHEDULER_DB=f"sqlite:///{path}")
    empty = check_scheduler_store(settings)
    assert empty.status == "ok" and "0 job(s), no leader now" in empty.detail
    engine = create_engine(f"sqlite:///{path}")
    assert inspect(engine).get_table_names() == []  # a check writes nothing
    engine.dispose()
    LeaderLease(f"sqlite:///{path}", 30, holder="pod-a:1").acquire()
    held = check_scheduler_store(settings)
    assert re.search(r"0 job\(s\), leader pod-a:1 \(lease (29|30)s left\)", held.detail)
    down = check_scheduler_store(make_settings(VIGIL_SCHEDULER_DB="sqlite:////nonexistent/x.db"))
    assert down.status == "failed" and "VIGIL_SCHEDULER_DB" in down.hint
