"""Run the benchmarks and print their figures.

python -m tests.bench                       # every benchmark
python -m tests.bench --quick               # every benchmark, the smaller sizes where offered
python -m tests.bench knowledge [--quick]   # one benchmark
"""

import sys
from collections.abc import Callable

from tests.bench import (
    anomaly,
    datasets,
    demo_world,
    knowledge,
    logs,
    operate,
    prometheus,
    slack,
)

BENCHES: dict[str, Callable[[list[str]], None]] = {
    "demo_world": lambda argv: demo_world.main(),
    "knowledge": knowledge.main,
    "prometheus": prometheus.main,
    "logs": logs.main,
    "anomaly": anomaly.main,
    "datasets": datasets.main,
    "slack": slack.main,
    "operate": operate.main,
}


def run(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("-")]
    options = [a for a in argv if a.startswith("-")]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r}; one of: {', '.join(BENCHES)}")
    for name in names or list(BENCHES):
        BENCHES[name](options)


run(sys.argv[1:])
