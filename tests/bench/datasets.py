"""Dataset generation: the metrics dataset, static-template language samples, and throughput
against an LLM stand-in with a fixed latency at growing concurrency.

python -m tests.bench datasets [--quick]

Targets (issue 5): 20,000 metrics samples in <= 2 s; static-template samples >= 500/s;
throughput grows with concurrency against a 200 ms stand-in; the generator's own overhead per
sample under 5 ms.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.standins import openai_api
from tests.standins.loopback import distinct_answer
from training.dataset_config import DatasetConfig, PoolMember
from training.dataset_files import Backups
from training.datasets import DatasetService, Endpoints
from training.metrics_generation import MetricsSpec, generate_metrics

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "data_config"
LATENCY_S = 0.2


def bench_metrics(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
        try:
            began = time.perf_counter()
            generate_metrics(
                folder / "metrics_dataset.json",
                MetricsSpec(20_000, 0.2, seed=0),
                Backups(folder / "backups"),
                session_id="bench",
            )
            times.append(time.perf_counter() - began)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    median = statistics.median(times)
    print(
        f"metrics dataset, 20,000 samples (simulate, explain, validate, write): median "
        f"{median:.2f} s (min {min(times):.2f}, max {max(times):.2f}; target <= 2 s)"
    )
    return median


def bench_static(samples: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    try:
        service = DatasetService(folder, CONFIG_DIR, DatasetConfig())
        service.vocabulary  # noqa: B018 (loaded outside the timing)
        began = time.perf_counter()
        report = service.generate(
            [t for t in _language_types()], language_samples=samples, backend="static"
        )
        seconds = time.perf_counter() - began
        assert report.language is not None
        run = report.language
        print(
            f"static templates: {run.generated:,} samples in {seconds:.2f} s "
            f"({run.generated / seconds:,.0f}/s end to end, {run.rate:,.0f}/s in the generator; "
            f"rejected {sum(run.rejected.values())}; target >= 500/s)"
        )
        return run.generated / seconds
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _timed_run(url: str, level: int, n: int) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the generator's (this) thread, for one generation of
    ``n`` samples at concurrency ``level`` (setup included)."""
    folder = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    try:
        config = DatasetConfig(
            pool=(
                PoolMember(backend="openai", model="model-a"),
                PoolMember(backend="openai", model="model-b"),
            ),
            concurrency={"openai": level},
        )
        service = DatasetService(folder, CONFIG_DIR, config, Endpoints(openai_base_url=url))
        service.vocabulary  # noqa: B018 (loaded outside the timing)
        began, cpu = time.perf_counter(), time.thread_time()
        report = service.generate(["technical_explanation"], language_samples=n, backend="openai")
        seconds, cpu = time.perf_counter() - began, time.thread_time() - cpu
        assert report.language is not None and report.language.generated == n, report
        return seconds, cpu
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_concurrency(levels: tuple[int, ...], per_level: int) -> None:
    with openai_api.serve(
        models={"model-a", "model-b"}, delay_s=LATENCY_S, answer=distinct_answer
    ) as stand_in:
        rates = {}
        for level in levels:
            n = per_level * level
            seconds, _ = _timed_run(stand_in.url, level, n)
            rates[level] = n / seconds
            ideal = level / LATENCY_S
            print(
                f"stand-in at {LATENCY_S * 1000:.0f} ms, concurrency {level:>2}: "
                f"{n:>4} samples in {seconds:6.2f} s = {rates[level]:6.1f}/s "
                f"(ideal {ideal:5.1f}/s, {rates[level] / ideal:4.0%}; setup and the final "
                "checkpoint included)"
            )
        base = rates[levels[0]]
        print(
            "speed-up over concurrency 1: "
            + ", ".join(f"x{rates[level] / base:.1f} at {level}" for level in levels)
        )
        # per-sample costs: the slope between a short and a long run at concurrency 1 (fixed
        # costs cancel out); wall time less the stand-in's latency, and the CPU time of the
        # generator's thread (the HTTP client runs in worker threads)
        short, long = per_level, 3 * per_level
        walls, cpus = [], []
        for _ in range(3):
            wall_short, cpu_short = _timed_run(stand_in.url, 1, short)
            wall_long, cpu_long = _timed_run(stand_in.url, 1, long)
            walls.append((wall_long - wall_short) / (long - short) - LATENCY_S)
            cpus.append((cpu_long - cpu_short) / (long - short))
        print(
            f"per sample at concurrency 1 (median of 3 pairs of runs, {short} vs {long} "
            f"samples): generator thread CPU {statistics.median(cpus) * 1000:.2f} ms "
            f"(target < 5 ms); wall beyond the 200 ms latency "
            f"{statistics.median(walls) * 1000:.2f} ms (HTTP round trip, stand-in, checkpoints)"
        )


def _language_types() -> list[str]:
    from training.dataset_paths import SAMPLE_TYPES

    return list(SAMPLE_TYPES)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    print("== datasets ==")
    bench_metrics(repeat=3 if quick else 5)
    bench_static(2000 if quick else 5000)
    bench_concurrency((1, 4, 16), per_level=10 if quick else 20)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
