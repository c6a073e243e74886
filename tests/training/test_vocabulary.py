"""The vocabulary in data_config/: the shipped files are complete and rich enough, and a broken
file stops the load with one line naming the file, the key path and what is expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from knowledge.errors import ConfigError
from training.vocabulary import (
    ANOMALY_TYPES,
    FILES,
    SEED_METRICS,
    VocabularyError,
    load_vocabulary,
)


def _read(config_dir: Path, name: str) -> Any:
    return yaml.safe_load((config_dir / name).read_text(encoding="utf-8"))


def _write(config_dir: Path, name: str, data: Any) -> None:
    (config_dir / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _error(config_dir: Path) -> str:
    with pytest.raises(VocabularyError) as caught:
        load_vocabulary(config_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError)
    return message


def test_the_shipped_vocabulary_is_complete(config_dir: Path) -> None:
    vocab = load_vocabulary(config_dir)
    counts = vocab.counts()
    assert counts["technical_terms"] >= 120
    assert len(vocab.technical_terms.categories) >= 10
    assert counts["error_patterns"] >= 40
    assert counts["conversation_prompts"] >= 30
    assert set(SEED_METRICS) <= set(vocab.metrics_patterns.metrics)
    assert len(vocab.metrics_patterns.metrics) >= len(SEED_METRICS) + 12
    assert set(vocab.metrics_patterns.anomalies) == set(ANOMALY_TYPES)
    assert counts["personality_types"] >= 8
    assert counts["question_styles"] >= 10
    assert counts["english_patterns"] >= 20
    assert counts["project_management"] >= 40
    assert counts["banking_terms"] >= 40


def test_the_vocabulary_covers_the_origin_stack(config_dir: Path) -> None:
    vocab = load_vocabulary(config_dir)
    names = {t.name for _, t in vocab.technical_terms.all_terms()}
    stack = ("vemkd", "lim", "pem", "selinux", "journald", "tstats", "summary_indexing", "jql",
             "confluence", "g1gc", "zgc", "metaspace", "hikaricp", "thread_dump", "burn_rate",
             "error_budget", "promql", "alertmanager", "postgresql")  # fmt: skip
    for needed in stack:
        assert needed in names, needed
    banking = {t.name for t in vocab.banking_terms.terms}
    for needed in ("sox", "pci_dss", "dora_regulation", "rto", "rpo", "impact_tolerance",
                   "change_freeze", "audit_trail", "segregation_of_duties"):  # fmt: skip
        assert needed in banking, needed


def test_every_file_starts_with_a_comment_that_names_its_schema(config_dir: Path) -> None:
    for name, _ in FILES.values():
        text = (config_dir / name).read_text(encoding="utf-8")
        assert text.startswith(f"# {name}"), name
        assert "Schema:" in text.split("\n\n")[0] or "Schema:" in text[:1500], name


def test_config_hash_ignores_comments_and_key_order_but_not_content(config_dir: Path) -> None:
    before = load_vocabulary(config_dir).config_hash()
    data = _read(config_dir, "banking_terms.yaml")
    data["terms"] = [dict(reversed(list(t.items()))) for t in data["terms"]]
    _write(config_dir, "banking_terms.yaml", data)  # comments gone, key order reversed
    assert load_vocabulary(config_dir).config_hash() == before
    data["terms"][0]["definition"] += " It also applies to subsidiaries."
    _write(config_dir, "banking_terms.yaml", data)
    assert load_vocabulary(config_dir).config_hash() != before


def test_a_misspelt_key_names_the_path_and_suggests_the_right_one(config_dir: Path) -> None:
    data = _read(config_dir, "technical_terms.yaml")
    category = next(iter(data["categories"]))
    term = data["categories"][category]["terms"][3]
    term["defintion"] = term.pop("definition")
    _write(config_dir, "technical_terms.yaml", data)
    message = _error(config_dir)
    assert "technical_terms.yaml" in message
    assert f"categories.{category}.terms[3].defintion" in message
    assert "did you mean 'definition'" in message


def test_a_missing_field_is_named(config_dir: Path) -> None:
    data = _read(config_dir, "error_patterns.yaml")
    del data["patterns"][5]["resolution"]
    _write(config_dir, "error_patterns.yaml", data)
    message = _error(config_dir)
    assert "error_patterns.yaml" in message
    assert "patterns[5].resolution" in message
    assert "required" in message.lower()


def test_a_wrong_type_says_what_is_expected(config_dir: Path) -> None:
    data = _read(config_dir, "metrics_patterns.yaml")
    data["metrics"]["cpu_usage"]["warning"] = "high"
    _write(config_dir, "metrics_patterns.yaml", data)
    message = _error(config_dir)
    assert "metrics.cpu_usage.warning" in message
    assert "number" in message and "'high'" in message


def test_inconsistent_thresholds_are_rejected(config_dir: Path) -> None:
    data = _read(config_dir, "metrics_patterns.yaml")
    data["metrics"]["disk_usage"]["critical"] = 50
    _write(config_dir, "metrics_patterns.yaml", data)
    assert "metrics.disk_usage" in _error(config_dir)


def test_a_missing_seed_metric_is_named(config_dir: Path) -> None:
    data = _read(config_dir, "metrics_patterns.yaml")
    del data["metrics"]["vemkd_process_count"]
    _write(config_dir, "metrics_patterns.yaml", data)
    message = _error(config_dir)
    assert "vemkd_process_count" in message


def test_an_unknown_related_term_gets_a_suggestion(config_dir: Path) -> None:
    data = _read(config_dir, "technical_terms.yaml")
    term = data["categories"]["java_runtime"]["terms"][0]
    term["related"] = ["garbage_colection"]
    _write(config_dir, "technical_terms.yaml", data)
    message = _error(config_dir)
    assert "categories.java_runtime.terms[0].related" in message
    assert "did you mean 'garbage_collection'" in message


def test_a_duplicate_name_is_named(config_dir: Path) -> None:
    data = _read(config_dir, "project_management.yaml")
    data["terms"][7]["name"] = data["terms"][2]["name"]
    _write(config_dir, "project_management.yaml", data)
    message = _error(config_dir)
    assert "terms[7].name" in message and "used twice" in message


def test_a_question_template_must_contain_the_term(config_dir: Path) -> None:
    data = _read(config_dir, "question_styles.yaml")
    data["styles"][1]["templates"][0]["text"] = "Tell me everything."
    _write(config_dir, "question_styles.yaml", data)
    message = _error(config_dir)
    assert "styles[1].templates[0].text" in message and "{term}" in message


def test_a_missing_file_is_named(config_dir: Path) -> None:
    (config_dir / "english_patterns.yaml").unlink()
    message = _error(config_dir)
    assert "english_patterns.yaml" in message


def test_invalid_yaml_names_the_line(config_dir: Path) -> None:
    path = config_dir / "personality_types.yaml"
    path.write_text("personalities:\n  - name: x\n    label: [unclosed\n", encoding="utf-8")
    message = _error(config_dir)
    assert "personality_types.yaml" in message and "line" in message
