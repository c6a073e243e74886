"""Building sources from config: built-in ones when configured, custom ones by import path,
the shipped example custom source, and clear errors for every way a config can be wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge.errors import ConfigError
from knowledge.sources.base import Fetch, Source, SourceContext, safe_fetch, safe_health
from knowledge.sources.example_deploys import DeploysSource
from knowledge.sources.registry import SourcesConfig, build_sources

EXAMPLE = "knowledge.sources.example_deploys:DeploysSource"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def build(tmp_path: Path, config: dict, env: dict | None = None) -> list[Source]:
    return build_sources(SourcesConfig.model_validate(config), env or {}, tmp_path, str)


def test_built_in_sources_run_only_when_configured(tmp_path: Path) -> None:
    assert build(tmp_path, {}) == []
    names = [s.name for s in build(tmp_path, {}, {"PROMETHEUS_URL": "http://127.0.0.1:9"})]
    assert names == ["prometheus"]
    assert build(tmp_path, {"prometheus": {"enabled": False}}, {"PROMETHEUS_URL": "http://x"}) == []
    sources = build(tmp_path, {}, {"JAEGER_URL": "http://127.0.0.1:9", "PROMETHEUS_URL": None})
    assert [s.name for s in sources] == ["jaeger"]
    assert (tmp_path / "jaeger").is_dir()  # its own state folder


def test_a_custom_source_is_loaded_by_import_path_with_its_options(tmp_path: Path) -> None:
    log = tmp_path / "deploys.jsonl"
    config = {
        "custom": {"deploys": {"class": EXAMPLE, "every": "2m", "options": {"path": str(log)}}}
    }
    (source,) = build(tmp_path, config)
    assert isinstance(source, DeploysSource) and source.name == "deploys"
    assert source.config.every == timedelta(minutes=2)
    assert source.path == log
    ok, reason = safe_health(source)
    assert not ok and "does not exist" in reason
    log.write_text(
        json.dumps(
            {
                "ts": "2026-11-21T10:07:00Z",
                "service": "payments",
                "version": "1.4.2",
                "who": "ci",
                "note": "pool size 40, token=abc123secret",
            }
        )
        + "\nnot json\n"
        + json.dumps({"ts": "2026-11-21T12:00:00Z", "service": "checkout"})
        + "\n"
    )
    assert safe_health(source) == (True, f"reading {log}")
    fetch = safe_fetch(source, T0, T0 + timedelta(hours=1))
    assert fetch.status == "ok" and fetch.reason == "1 malformed line(s) skipped"
    (doc,) = fetch.documents
    assert doc.source == "custom" and doc.service == "payments" and doc.ts.minute == 7
    assert doc.text.startswith("Deploy of payments version 1.4.2 by ci at 10:07 UTC")
    empty = safe_fetch(source, T0 - timedelta(hours=5), T0 - timedelta(hours=4))
    assert empty.status == "no_data"


@pytest.mark.parametrize(
    ("custom", "expected"),
    [
        ({"class": "no.such.module:Thing"}, "module 'no.such.module' could not be imported"),
        ({"class": "knowledge.sources.base:one_line"}, "expected a subclass of"),
        ({"class": "justaname"}, "expected package.module:ClassName"),
        ({"class": EXAMPLE, "options": {"path": 42}}, "sources.custom.deploys.options.path"),
    ],
)
def test_a_wrong_custom_source_is_a_one_line_config_error(
    tmp_path: Path, custom: dict, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, {"custom": {"deploys": custom}})
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_custom_source_names_cannot_shadow_built_in_ones() -> None:
    with pytest.raises(ValueError, match="not one of prometheus"):
        SourcesConfig.model_validate({"custom": {"prometheus": {"class": EXAMPLE}}})


class Rude(Source):
    def health(self) -> tuple[bool, str]:
        raise ConnectionError("boom")

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        return "not a fetch"  # type: ignore[return-value]


def test_safe_wrappers_turn_misbehaviour_into_reasons(tmp_path: Path) -> None:
    rude = Rude(SourcesConfig().prometheus, SourceContext("rude", tmp_path, str))
    assert safe_health(rude) == (False, "ConnectionError: boom")
    fetch = safe_fetch(rude, T0, T0 + timedelta(minutes=5))
    assert fetch.status == "error" and fetch.reason == "fetch returned str, expected a Fetch"
