"""A process that runs the alerts job's path for real (an ``AlertBook`` on a data dir, the
messages with their charts, a routed channel per alert) over a scripted fleet, posting through
a sink that appends each message as a JSON line to a file and fsyncs it, so that a test can kill
it with SIGKILL at a chosen point and start it again.

``python -m tests.drills.alerts_worker DATA_DIR POSTS_FILE``

``DRILL_PAUSE=before:N`` (or ``after:N``): before writing post number N (counting the lines
already in the file), or after writing it, print ``paused N`` and wait to be killed. One run per
scripted minute; ``runs.json`` in the data dir says which run is next (a killed run is run again
at the same time, as the scheduler's next run would be).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from handlers import alerts
from handlers.alertbook import AlertBook, AlertPolicy
from handlers.deps import Deps
from handlers.routing import AlertRoute, AlertRouter
from handlers.types import ChatRequest, Reply
from knowledge.statefile import read_json, write_json_atomic
from tests.handlers.test_alertbook import T0, detection
from training.live import Detection

RUNS = 16
POLICY = AlertPolicy(clear_after=timedelta(minutes=3), cooldown=timedelta(minutes=10))
ROUTER = AlertRouter(
    (AlertRoute(service="payments*", severity=("critical",), channel="payments-oncall"),), "alerts"
)
REQUEST = ChatRequest("alerts", platform="scheduler", user="vigil")


def scenario(run: int) -> list[Detection]:
    """What the model finds at run ``run`` (minute ``run``): alerts that fire alone and in
    groups, escalate to another channel, resolve, and flap back within their cooldown."""
    found = []
    if run <= 6:  # escalates at 3 (to payments-oncall), resolves at 9
        found.append(detection(run, severity="critical" if run >= 3 else "warning", score=0.8))
    if 2 <= run <= 4 or 10 <= run <= 11:  # fires with payments-1 at 2, flaps back at 10
        found.append(detection(run, service="checkout", host="co-1", anomaly_type="cpu_spike"))
    if 2 <= run <= 8:
        found.append(detection(run, host="payments-1", score=0.7))
    if run == 5:  # two messages of one run: #alerts, then #payments-oncall
        found.append(detection(run, service="search", host="s-1", anomaly_type="disk_full"))
        found.append(detection(run, host="payments-3", severity="critical", score=0.9))
    if run == 7:  # fires as checkout/co-1 resolves: two messages of one run to #alerts
        found.append(detection(run, service="search", host="s-2", anomaly_type="disk_full"))
    return found


def line_of(channel: str, reply: Reply) -> dict[str, object]:
    return {"channel": channel, "text": reply.text, "thread": [r.text for r in reply.thread]}


class FileSink:
    """Appends each post to ``path`` as one JSON line and fsyncs it; pauses where told."""

    def __init__(self, path: Path, pause: str) -> None:
        self.path = path
        when, _, number = pause.partition(":")
        self.pause = (when, int(number)) if number else None

    def _wait_if(self, when: str, number: int) -> None:
        if self.pause == (when, number):
            print(f"paused {number}", flush=True)
            time.sleep(3600)

    async def __call__(self, channel: str, reply: Reply) -> None:
        number = len(self.path.read_text().splitlines()) + 1 if self.path.exists() else 1
        self._wait_if("before", number)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line_of(channel, reply)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._wait_if("after", number)


def make_deps(data_dir: Path, run: list[int]) -> Deps:
    return Deps(
        alerts=AlertBook(POLICY, data_dir / "alerts.json"),
        detect=lambda now: scenario(run[0]),
        clock=lambda: T0 + timedelta(minutes=run[0]),
        alert_router=ROUTER,
    )


async def main(data_dir: Path, posts: Path) -> None:
    progress = data_dir / "runs.json"
    run = [int(read_json(progress, {"next": 0})["next"])]
    deps = make_deps(data_dir, run)
    sink = FileSink(posts, os.environ.get("DRILL_PAUSE", ""))
    print("ready", flush=True)
    while run[0] < RUNS:
        await alerts.run(REQUEST, deps, sink)
        run[0] += 1
        write_json_atomic(progress, {"next": run[0]})
        print(f"run {run[0] - 1}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
