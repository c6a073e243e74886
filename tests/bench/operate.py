"""Operating figures: how fast a standby takes the scheduler over (kill -9 of the leader, and a
graceful stop), what the metrics hook costs per chat request, and how long /metrics takes.

python -m tests.bench operate [--quick]
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.common import measure
from tests.bot.test_leader import _start, _ticks, _wait_for_tick_by

LEASE_S = 3.0


def _handover(trial: Path, graceful: bool) -> float:
    """Seconds from the leader's end to the standby's first job run."""
    url = f"sqlite:///{trial / 'jobs.sqlite'}"
    out = trial / "ticks.txt"
    leader = _start(url, out, "pod-a:1", LEASE_S)
    _wait_for_tick_by(out, "pod-a:1", timeout_s=10)
    standby = _start(url, out, "pod-b:1", LEASE_S)
    try:
        time.sleep(1.5)
        leader.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        leader.wait(timeout=20)
        ended = time.time()
        return _wait_for_tick_by(out, "pod-b:1", timeout_s=LEASE_S + 10) - ended
    finally:
        for proc in (leader, standby):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert len({round(at, 1) for _, at in _ticks(out)}) == len(_ticks(out))


def failover(trials: int) -> None:
    for graceful in (False, True):
        seconds = []
        for _ in range(trials):
            with tempfile.TemporaryDirectory() as tmp:
                seconds.append(_handover(Path(tmp), graceful))
        label = "graceful stop (lease released)" if graceful else "kill -9 (lease runs out)"
        print(
            f"scheduler handover, {label:<32} median {statistics.median(seconds):5.2f} s   "
            f"max {max(seconds):5.2f} s   lease {LEASE_S:g} s, job every 1 s, {trials} trials"
        )


def request_overhead(requests: int) -> None:
    from bot.config import load_settings
    from bot.metrics import Metrics
    from handlers.deps import Deps
    from handlers.registry import default_registry
    from handlers.router import Router
    from handlers.types import ChatRequest

    settings = load_settings(environ={"VIGIL_DATA_DIR": tempfile.mkdtemp()})
    deps = Deps(analysis=settings.ai.analysis)
    request = ChatRequest(text="help", platform="terminal", user="bench")
    metrics = Metrics()
    plain = Router(default_registry())
    observed = Router(default_registry(), observe=metrics.observe_request)
    for router in (plain, observed):
        router.limiter.check = lambda req: 0.0  # type: ignore[method-assign]

    async def many(router: Router) -> None:
        for _ in range(requests):
            await router.dispatch(request, deps)

    base = measure(
        f"{requests} `help` requests through the router", lambda: asyncio.run(many(plain)), repeat=7
    )
    with_hook = measure(
        f"{requests} `help` requests, counted in /metrics",
        lambda: asyncio.run(many(observed)),
        repeat=7,
    )
    print(
        f"metrics hook: {(with_hook - base) / requests * 1000:+.1f} µs per request "
        f"({with_hook / base:.3f}x)"
    )
    measure("render the chat counters of /metrics", metrics.render, repeat=50)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    print("== operate ==")
    request_overhead(500 if quick else 2000)
    failover(2 if quick else 5)
