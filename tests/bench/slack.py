"""Slack acknowledgement latency while answers are being generated.

    python -m tests.bench slack            # 200 slash commands, 10 at a time, answers 0.5-2 s
    python -m tests.bench slack --quick    # 60 slash commands, 6 at a time, answers 0.2-0.5 s

The real ``SlackFront`` (slack-bolt, HTTP mode) runs on a loopback port with a real ``VigilApp``
whose ``ask`` command sleeps 0.5-2 s, then holds the GIL in a worker thread (an answer being
generated): 5 ms per answer in a first run, 20 ms in a second (200 answers over ~4 s: a whole
core of pure-Python work in threads, the worst case for the event loop's latency). The Slack
Web API and the ``response_url`` are the loopback stand-in. A separate process plays Slack: it
sends signed ``/vigil ask ...`` requests with some concurrency, each sender pausing 50-250 ms
between requests so that later acks overlap earlier answers being generated, and times each
acknowledgement (the HTTP answer Slack waits for, at most 3 s). Printed: ack p50 / p95 / p99 /
max (target p99 <= 100 ms), answer latency, the count answered, the peak of answers in flight.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from tests.bench.common import Summary, percentile
from tests.standins import slack_api

if TYPE_CHECKING:  # Vigil's modules load in the parent only, not in the process playing Slack
    from handlers.deps import Deps
    from handlers.registry import Registry
    from handlers.types import ChatRequest, Reply

REPO = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-bench-0000000000"
SECRET = "bench-signing-secret-0123456789abcdef"


# --------------------------------------------------------------------------- Slack's side


def play_slack(
    url: str, response_base: str, requests: int, concurrency: int
) -> list[tuple[str, float, float, int]]:
    """In a separate process: send ``requests`` signed slash commands, ``concurrency`` at a
    time; returns (key, sent at (monotonic), ack seconds, HTTP status) per request."""
    return asyncio.run(_play(url, response_base, requests, concurrency))


async def _play(
    url: str, response_base: str, requests: int, concurrency: int
) -> list[tuple[str, float, float, int]]:
    gate = asyncio.Semaphore(concurrency)
    out: list[tuple[str, float, float, int]] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            key = f"q{n:04d}"
            form = slack_api.slash_command_form(
                f"ask why is checkout-{n % 7} slow?",
                response_url=f"{response_base}/response/{key}",
                channel_id="C0GENERAL",
                user_id=f"U{n:05d}",  # one user each: the per-user rate limit stays out of it
            )
            async with gate:
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    **slack_api.signed_headers(SECRET, form),
                }
                sent = time.monotonic()
                async with session.post(url, data=form.encode(), headers=headers) as answer:
                    await answer.read()
                    out.append((key, sent, time.monotonic() - sent, answer.status))
                # paced, so that later acks overlap the answers being generated
                await asyncio.sleep(random.uniform(0.05, 0.25))

        await asyncio.gather(*(one(n) for n in range(requests)))
    return out


# --------------------------------------------------------------------------- Vigil's side


@dataclass(frozen=True)
class Load:
    requests: int
    concurrency: int
    low: float  # each answer sleeps between low and high seconds...
    high: float
    cpu_ms: float  # ...then holds the GIL this long in a worker thread

    def __str__(self) -> str:
        return (
            f"{self.requests} commands, {self.concurrency} at a time, answers "
            f"{self.low:g}-{self.high:g} s + {self.cpu_ms:g} ms CPU"
        )


def _registry(load: Load) -> Registry:
    from handlers.registry import Command, Registry
    from handlers.types import Context, Reply, Section

    def burn(seed: str) -> str:
        digest = seed.encode()
        end = time.perf_counter() + load.cpu_ms / 1000
        while time.perf_counter() < end:
            digest = hashlib.sha256(digest).digest()
        return digest.hex()[:8]

    async def ask(req: ChatRequest, deps: Deps) -> Reply:
        await asyncio.sleep(random.uniform(load.low, load.high))
        token = await asyncio.to_thread(burn, req.args)
        return Reply(
            f"Checkout is slow because of pool exhaustion ({token}).",
            parts=(Section("Pool at 100 % since 10:02."), Context("bench · extractive")),
        )

    return Registry([Command("ask", "bench answers", "ask Q", ask)])


async def run(load: Load, summary: Summary) -> None:
    from bot.app import VigilApp
    from bot.config import load_settings
    from bot.fronts import start_fronts

    with (
        tempfile.TemporaryDirectory(prefix="vigil-bench-slack-") as tmp,
        slack_api.serve({BOT_TOKEN}) as slack,
    ):
        config = Path(tmp) / "data_config"
        shutil.copytree(REPO / "data_config", config)
        environ = {
            "VIGIL_DATA_DIR": str(Path(tmp) / "var"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "VIGIL_HTTP_PORT": "0",
        }
        settings = load_settings(config_dir=config, env_file=Path(tmp) / "none", environ=environ)
        app = VigilApp(settings, registry=_registry(load), knowledge=False)
        fronts = await start_fronts(app)
        front = fronts.get("slack")
        assert fronts.http is not None and front is not None
        url = f"{fronts.http.url}/slack/events"
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, int(front.health()["answers_in_flight"]))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        began = time.monotonic()
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            pending = pool.apply_async(
                play_slack, (url, slack.base, load.requests, load.concurrency)
            )
            while not pending.ready():
                await asyncio.sleep(0.05)
            sent = pending.get()
        sent_s = time.monotonic() - began
        deadline = time.monotonic() + load.high + 30
        while len({r.key for r in slack.responses}) < load.requests:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        watcher.cancel()
        await fronts.stop()

    acks = [took * 1000 for _, _, took, status in sent if status == 200]
    sent_at = {key: at for key, at, _, _ in sent}
    answered = {r.key: r.at for r in slack.responses if r.body.get("response_type") == "in_channel"}
    answers = [(at - sent_at[key]) * 1000 for key, at in answered.items() if key in sent_at]
    print(f"  {load}: sent in {sent_s:.1f} s")
    print(
        f"    ack      p50 {percentile(acks, 50):7.1f} ms   p95 {percentile(acks, 95):7.1f} ms"
        f"   p99 {percentile(acks, 99):7.1f} ms   max {max(acks, default=float('nan')):7.1f} ms"
    )
    p50, p99 = percentile(answers, 50), percentile(answers, 99)
    print(f"    answer   p50 {p50:7.0f} ms   p99 {p99:7.0f} ms")
    print(f"    answered {len(answered)}/{load.requests}; peak answers in flight {peak}")
    cpu = f"{load.cpu_ms:g} ms CPU"
    summary.add(f"ack p50 ({cpu})", f"{percentile(acks, 50):.1f} ms")
    summary.add(f"ack p99 ({cpu})", f"{percentile(acks, 99):.1f} ms", "<= 100 ms")
    summary.add(
        f"acked / answered ({cpu})",
        f"{len(acks)} / {len(answered)} of {load.requests}",
    )
    summary.add(f"answer p50 ({cpu})", f"{p50:.0f} ms")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench slack")
    parser.add_argument("--quick", action="store_true", help="60 commands, shorter answers")
    args = parser.parse_args(list(argv or []))
    title = "slack" + (" (quick)" if args.quick else "")
    print(f"== {title}   [{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}]")
    summary = Summary(title)
    if args.quick:
        loads = [Load(60, 6, 0.2, 0.5, 5), Load(60, 6, 0.2, 0.5, 20)]
    else:
        loads = [Load(200, 10, 0.5, 2.0, 5), Load(200, 10, 0.5, 2.0, 20)]
    for load in loads:
        asyncio.run(run(load, summary))
    summary.print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
