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
