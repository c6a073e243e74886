"""One plain sentence per anomaly, from facts only: which metrics, their value against normal,
how many sigmas and for how long, and what it looks like.

    memory_usage on payments-2 is 91 % (normal 55 %, +6.1 sigma for 40 min) with java_gc_time
    at 18 % (normal 3 %): looks like a memory leak (confidence 0.87).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from knowledge.findings import fmt
from knowledge.timeparse import format_duration

TYPE_PHRASES: dict[str, str] = {
    "memory_leak": "a memory leak",
    "cpu_spike": "a CPU spike",
    "disk_full": "a filling disk",
    "network_congestion": "network congestion",
    "gc_pressure": "GC pressure",
    "job_backlog": "a job backlog",
    "process_crash": "a crashed process",
    "thread_starvation": "thread starvation",
    "load_surge": "a load surge",
}


# When the diagnosis has no type (the metrics that moved have no role it knows), the names of
# the leading metrics still say what kind of trouble it is: fragment -> type, first match wins.
NAME_TYPES: tuple[tuple[str, str], ...] = (
    ("pool", "pool_exhaustion"),
    ("error", "error_burst"),
    ("5xx", "error_burst"),
    ("latency", "latency_degradation"),
    ("duration", "latency_degradation"),
    ("request", "traffic_change"),
    ("rps", "traffic_change"),
)
TYPE_PHRASES.update(
    {
        "pool_exhaustion": "connection pool exhaustion",
        "error_burst": "a burst of errors",
        "latency_degradation": "slower responses",
        "traffic_change": "a change in traffic",
        "unusual_metrics": "an unusual combination of metrics",
    }
)


def type_from_names(metrics: Sequence[str]) -> str:
    """A type for metrics the diagnosis does not know, from the leading metric's name."""
    for metric in metrics[:1]:
        name = metric.lower()
        for fragment, anomaly_type in NAME_TYPES:
            if fragment in name:
                return anomaly_type
    return "unusual_metrics"


@dataclass(frozen=True)
class Fact:
    metric: str
    value: float
    normal: float
    sigma: float
    unit: str = ""
    lasting: timedelta | None = None  # how long it has been off its normal


def phrase(anomaly_type: str | None) -> str | None:
    if not anomaly_type or anomaly_type == "unknown":
        return None
    return TYPE_PHRASES.get(anomaly_type, anomaly_type.replace("_", " "))


def sentence(
    facts: Sequence[Fact],
    *,
    where: str = "",
    anomaly_type: str | None = None,
    confidence: float = 0.0,
    cause: str | None = None,
) -> str:
    """The explanation: the first fact in full, up to two more in short, then the likely type
    (or, when the model has no type for these metrics, ``cause``: what they usually mean)."""
    if not facts:
        return "unusual combination of metrics" + (f" on {where}" if where else "")
    first, *rest = facts
    head = f"{first.metric}{f' on {where}' if where else ''} is {fmt(first.value, first.unit)}"
    detail = f"normal {fmt(first.normal, first.unit)}, {first.sigma:+.1f} sigma"
    if first.lasting is not None and first.lasting >= timedelta(minutes=1):
        detail += f" for {format_duration(first.lasting)}"
    text = f"{head} ({detail})"
    more = [
        f"{f.metric} at {fmt(f.value, f.unit)} (normal {fmt(f.normal, f.unit)})" for f in rest[:2]
    ]
    if more:
        text += " with " + " and ".join(more)
    looks = phrase(anomaly_type)
    if looks:
        text += f": looks like {looks} (confidence {confidence:.2f})"
    elif cause:
        text += f": likely {cause}"
    return text
