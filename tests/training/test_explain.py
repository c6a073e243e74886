"""The plain-language sentence of an alert: facts only, in a fixed shape."""

from __future__ import annotations

from datetime import timedelta

from training.explain import Fact, sentence, type_from_names


def test_the_sentence_states_value_normal_sigma_duration_and_type() -> None:
    text = sentence(
        [
            Fact("memory_usage", 91.2, 55.0, 6.1, "%", timedelta(minutes=40)),
            Fact("java_gc_time", 18.0, 3.0, 4.0, "%"),
        ],
        where="payments-2",
        anomaly_type="memory_leak",
        confidence=0.87,
    )
    assert text == (
        "memory_usage on payments-2 is 91.2 % (normal 55 %, +6.1 sigma for 40m) with "
        "java_gc_time at 18 % (normal 3 %): looks like a memory leak (confidence 0.87)"
    )


def test_without_a_type_the_sentence_gives_the_usual_meaning_or_nothing() -> None:
    facts = [Fact("db_pool_usage", 95.0, 30.0, 9.0, "%")]
    assert sentence(facts, cause="pool exhaustion").endswith(": likely pool exhaustion")
    assert sentence(facts) == "db_pool_usage is 95 % (normal 30 %, +9.0 sigma)"
    assert sentence([], where="db-1") == "unusual combination of metrics on db-1"


def test_types_from_metric_names() -> None:
    assert type_from_names(["db_pool_usage", "cpu"]) == "pool_exhaustion"
    assert type_from_names(["http_5xx_rate"]) == "error_burst"
    assert type_from_names(["p95_latency_ms"]) == "latency_degradation"
    assert type_from_names(["temperature"]) == "unusual_metrics"
