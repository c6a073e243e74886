from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from knowledge.config import AnalysisConfig, Baseline
from knowledge.demo.incidents import INCIDENT_TYPES, signature
from knowledge.demo.topology import METRICS, SERVICE_BY_NAME, SERVICES
from knowledge.documents import Document
from knowledge.errors import ConfigError
from knowledge.redaction import Redactor
from knowledge.runbooks import domain_documents, github_anchor, load_runbooks
from tests.conftest import REPO

SHIPPED = REPO / "data_config" / "runbooks"
SECTIONS = ("Symptoms", "Diagnose", "Mitigate", "Escalate")

POOL = """\
---
service: payments
tags: [database, hikaricp]
metrics: [db_pool_usage, latency_p95_ms]
---
# Payments DB pool exhaustion

Intro line.

## Symptoms

Pool at 100 %.

## Mitigate

### Short term

Cancel the migration.

#### Detail

Deeper headings stay in the body.

### Long term

Add the index.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def titles(docs: list[Document]) -> list[str]:
    return [d.title for d in docs]


def test_sections_are_chunked_by_heading_path(tmp_path: Path) -> None:
    write(tmp_path, "payments/pool.md", POOL)
    docs = load_runbooks(tmp_path)
    assert titles(docs) == [
        "Payments DB pool exhaustion",
        "Payments DB pool exhaustion > Symptoms",
        "Payments DB pool exhaustion > Mitigate > Short term",
        "Payments DB pool exhaustion > Mitigate > Long term",
    ]
    short = docs[2]
    assert short.text.splitlines()[0] == "Payments DB pool exhaustion > Mitigate > Short term"
    assert "Cancel the migration." in short.text
    assert "#### Detail\n\nDeeper headings stay in the body." in short.text
    assert "Add the index." not in short.text
    assert (short.source, short.kind, short.severity) == ("runbook", "runbook", "info")
    assert short.label == "runbook: Payments DB pool exhaustion > Mitigate > Short term"
    lines = POOL.splitlines()
    assert lines[short.payload["line"] - 1] == "### Short term"
    assert lines[docs[0].payload["line"] - 1] == "# Payments DB pool exhaustion"
    assert short.payload["path"] == "payments/pool.md"
    assert short.payload["heading"] == "Short term"
    assert short.payload["anchor"] == "short-term"
    assert (short.payload["part"], short.payload["parts"]) == (1, 1)


def test_front_matter_fills_service_tags_metrics_and_ts(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.md", POOL)
    stamp = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    doc = load_runbooks(tmp_path)[0]
    assert doc.service == "payments"
    assert doc.host == ""
    assert doc.payload["tags"] == ["database", "hikaricp"]
    assert doc.payload["metrics"] == ["db_pool_usage", "latency_p95_ms"]
    assert doc.ts == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert "service:" not in doc.text


def test_service_any_means_no_service(tmp_path: Path) -> None:
    write(tmp_path, "cpu.md", "---\nservice: any\ntags: [cpu]\n---\n# CPU\n\nbody\n")
    (doc,) = load_runbooks(tmp_path)
    assert doc.service == ""
    assert doc.payload["tags"] == ["cpu"]
    assert doc.payload["metrics"] == []


def test_file_without_front_matter_or_headings_loads(tmp_path: Path) -> None:
    write(tmp_path, "restart_the-gateway.md", "Just reload nginx.\n\nThen watch the 5xx rate.\n")
    (doc,) = load_runbooks(tmp_path)
    assert doc.title == "Restart the gateway"
    assert doc.text == "Restart the gateway\n\nJust reload nginx.\n\nThen watch the 5xx rate."
    assert doc.service == ""
    assert doc.payload["anchor"] == ""
    assert doc.payload["line"] == 1
    assert doc.payload["tags"] == []


def test_file_without_h1_gets_its_name_as_root(tmp_path: Path) -> None:
    write(tmp_path, "disk-full.md", "Preamble.\n\n## Diagnose\n\ndf -h\n")
    assert titles(load_runbooks(tmp_path)) == ["Disk full", "Disk full > Diagnose"]


def test_headings_inside_code_fences_are_not_headings(tmp_path: Path) -> None:
    text = (
        "# Gateway\n\n## Diagnose\n\n```bash\n# count 5xx per path\n## also a comment\n"
        "egrep -c ' 50[234] ' /var/log/nginx/access.log\n```\n\n"
        "~~~~\n### not a heading\n```\n# still code\n~~~~\n\n## Escalate\n\nPage.\n"
    )
    write(tmp_path, "gw.md", text)
    docs = load_runbooks(tmp_path)
    assert titles(docs) == ["Gateway > Diagnose", "Gateway > Escalate"]
    assert "# count 5xx per path\n## also a comment" in docs[0].text
    assert "### not a heading\n```\n# still code\n~~~~" in docs[0].text


def test_empty_sections_fold_into_the_next_chunk(tmp_path: Path) -> None:
    text = (
        "# Disk full\n\n## Symptoms\n\n## Diagnose\n\n### What is big?\n\ndu -sh /var/log\n\n"
        "### Empty leaf\n\n## Mitigate\n\nTruncate, do not delete.\n\n## Trailing\n"
    )
    write(tmp_path, "disk.md", text)
    docs = load_runbooks(tmp_path)
    assert titles(docs) == [
        "Disk full > Symptoms / Diagnose > What is big?",
        "Disk full > Empty leaf / Mitigate",
    ]
    assert all(d.text.strip() != d.title for d in docs)
    lines = text.splitlines()
    assert lines[docs[1].payload["line"] - 1] == "### Empty leaf"
    assert docs[1].payload["heading"] == "Empty leaf / Mitigate"


def test_anchors_follow_github(tmp_path: Path) -> None:
    assert (
        github_anchor("vemkd restart / Spectrum Conductor") == "vemkd-restart--spectrum-conductor"
    )
    assert github_anchor("Is it `nginx`?") == "is-it-nginx"
    assert github_anchor("See [the docs](https://example.com/x)") == "see-the-docs"
    text = "# A\n\n## Mitigate\n\n### Short term\n\none\n\n## Escalate\n\n### Short term\n\ntwo\n"
    write(tmp_path, "a.md", text)
    anchors = [d.payload["anchor"] for d in load_runbooks(tmp_path)]
    assert anchors == ["short-term", "short-term-1"]


def test_long_sections_split_between_paragraphs(tmp_path: Path) -> None:
    paragraphs = [
        (f"Paragraph {i}: " + "check the pool and the lock. " * 4).strip() for i in range(12)
    ]
    code = "```sql\nSELECT state, count(*)\n\nFROM pg_stat_activity\nGROUP BY state;\n```"
    body = "\n\n".join([*paragraphs[:6], code, *paragraphs[6:]])
    text = f"# Pool\n\n## Diagnose\n\n{body}\n\n## Escalate\n\nPage the DBA.\n"
    write(tmp_path, "pool.md", text)
    docs = load_runbooks(tmp_path, max_chars=400)
    parts = [d for d in docs if d.title == "Pool > Diagnose"]
    assert len(parts) >= 4
    assert all(len(d.text) <= 400 for d in parts)
    assert [d.payload["part"] for d in parts] == list(range(1, len(parts) + 1))
    assert {d.payload["parts"] for d in parts} == {len(parts)}
    assert len({d.id for d in parts}) == len(parts)
    bodies = [d.text.removeprefix("Pool > Diagnose\n\n") for d in parts]
    assert "\n\n".join(bodies) == body  # nothing lost, nothing reordered, no line cut
    assert sum(code in b for b in bodies) == 1  # the code block stays whole
    file_lines = text.splitlines()
    for d, b in zip(parts[1:], bodies[1:], strict=True):
        assert file_lines[d.payload["line"] - 1] == b.splitlines()[0]
    assert titles(docs)[-1] == "Pool > Escalate"


def test_oversized_code_block_is_split_between_lines_and_refenced(tmp_path: Path) -> None:
    commands = [f"kubectl -n payments delete pod payments-{i:02d}-abcde" for i in range(40)]
    write(tmp_path, "r.md", "# R\n\n## Mitigate\n\n```bash\n" + "\n".join(commands) + "\n```\n")
    docs = load_runbooks(tmp_path, max_chars=300)
    assert len(docs) > 1
    seen: list[str] = []
    for d in docs:
        assert len(d.text) <= 300
        lines = d.text.splitlines()
        assert lines[2] == "```bash"
        assert lines[-1] == "```"
        seen += lines[3:-1]
    assert seen == commands


def test_a_single_overlong_line_is_never_cut(tmp_path: Path) -> None:
    line = "x" * 500
    write(tmp_path, "r.md", f"# R\n\nshort\n\n{line}\n\nshort again\n")
    docs = load_runbooks(tmp_path, max_chars=100)
    assert [d.text.splitlines()[-1] for d in docs] == ["short", line, "short again"]


def test_redaction_applies_to_text_and_title(tmp_path: Path) -> None:
    secret = "AKIAABCDEFGHIJKLMNOP"
    write(
        tmp_path,
        "s3.md",
        f"# Staging bucket {secret}\n\n## Diagnose\n\naws s3 ls with key {secret} fails\n",
    )
    docs = load_runbooks(tmp_path, redact=Redactor().redact)
    assert docs
    for d in docs:
        assert secret not in d.text
        assert secret not in d.title
        assert secret.lower() not in str(d.payload)
    assert "aws s3 ls with key [REDACTED:aws_key] fails" in docs[0].text
    assert docs[0].title == "Staging bucket [REDACTED:aws_key] > Diagnose"
    assert secret in load_runbooks(tmp_path)[0].text  # the identity default leaves it


def test_ids_are_stable_and_follow_content(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.md", POOL)
    first = [d.id for d in load_runbooks(tmp_path)]
    os.utime(path, (1_000_000, 1_000_000))
    assert [d.id for d in load_runbooks(tmp_path)] == first  # ts is not part of the id
    path.write_text(POOL.replace("Add the index.", "Add the partial index."), encoding="utf-8")
    second = [d.id for d in load_runbooks(tmp_path)]
    assert second[:3] == first[:3]
    assert second[3] != first[3]
    assert len(set(first)) == len(first)


def test_files_load_recursively_in_path_order(tmp_path: Path) -> None:
    write(tmp_path, "b.md", "# B\n\nb\n")
    write(tmp_path, "a/z.md", "# AZ\n\nz\n")
    write(tmp_path, "a.md", "# A\n\na\n")
    write(tmp_path, ".drafts/x.md", "# Draft\n\nx\n")
    write(tmp_path, "notes.txt", "# Not markdown\n\nx\n")
    assert [d.payload["path"] for d in load_runbooks(tmp_path)] == ["a.md", "a/z.md", "b.md"]
    assert load_runbooks(tmp_path / "missing") == []


def test_bad_utf8_raises_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.md", b"# Bad\n\ncaf\xe9 latin-1\n")
    with pytest.raises(ConfigError) as caught:
        load_runbooks(tmp_path)
    assert caught.value.key == "runbook"
    assert caught.value.source == str(path)
    assert "UTF-8" in str(caught.value)
    assert "0xe9" in str(caught.value)
    assert "\n" not in str(caught.value)


BAD_FRONT_MATTER = {
    "invalid yaml": "---\nservice: [payments\n---\n# T\n\nx\n",
    "not a mapping": "---\n- payments\n---\n# T\n\nx\n",
    "unknown key": "---\nservice: payments\nowner: team-payments\n---\n# T\n\nx\n",
    "tags not a list": "---\ntags: database\n---\n# T\n\nx\n",
    "metrics not strings": "---\nmetrics: [1, 2]\n---\n# T\n\nx\n",
    "service not a string": "---\nservice: [payments]\n---\n# T\n\nx\n",
    "never closed": "---\nservice: payments\n# T\n\nx\n",
}


@pytest.mark.parametrize("text", BAD_FRONT_MATTER.values(), ids=BAD_FRONT_MATTER.keys())
def test_malformed_front_matter_raises(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "bad.md", text)
    with pytest.raises(ConfigError) as caught:
        load_runbooks(tmp_path)
    assert (caught.value.key, caught.value.source) == ("runbook", str(path))
    assert "front matter" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_yaml_error_names_the_file_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.md", "---\nservice: payments\ntags: [a\n---\n# T\n")
    with pytest.raises(ConfigError, match=r"on line \d+"):
        load_runbooks(tmp_path)


def test_skip_keeps_the_good_files(tmp_path: Path) -> None:
    write(tmp_path, "a-bad-encoding.md", b"# A\n\n\xff\xfe\n")
    write(tmp_path, "b-bad-front-matter.md", "---\nservice: [x\n---\n# B\n\nb\n")
    write(tmp_path, "c-good.md", "# C\n\nc\n")
    assert titles(load_runbooks(tmp_path, on_error="skip")) == ["C"]
    errors: list[ConfigError] = []
    assert titles(load_runbooks(tmp_path, on_error=errors.append)) == ["C"]
    assert [Path(e.source).name for e in errors] == ["a-bad-encoding.md", "b-bad-front-matter.md"]
    with pytest.raises(ConfigError):
        load_runbooks(tmp_path)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_chars"):
        load_runbooks(tmp_path, max_chars=0)
    with pytest.raises(ValueError, match="on_error"):
        load_runbooks(tmp_path, on_error="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- shipped runbooks
def shipped_files() -> list[Path]:
    return sorted(SHIPPED.glob("*.md"))


def test_shipped_runbooks_load_redacted_and_unchanged_by_redaction() -> None:
    assert 7 <= len(shipped_files()) <= 9
    plain = load_runbooks(SHIPPED)
    redacted = load_runbooks(SHIPPED, redact=Redactor().redact)
    assert [d.text for d in plain] == [d.text for d in redacted]  # no secrets, e-mails or IPs
    assert {d.payload["path"] for d in plain} == {p.name for p in shipped_files()}
    assert all(len(d.text) <= 1500 for d in plain)


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.name)
def test_each_shipped_runbook_is_complete(path: Path) -> None:
    assert 40 <= len(path.read_text(encoding="utf-8").splitlines()) <= 120
    docs = [d for d in load_runbooks(SHIPPED) if d.payload["path"] == path.name]
    root = docs[0].title.split(" > ")[0]
    sections = {d.title.split(" > ")[1] for d in docs if " > " in d.title}
    assert set(SECTIONS) <= sections, sections
    assert all(d.title.startswith(root) for d in docs)
    meta = docs[0].payload
    assert meta["tags"]
    assert meta["metrics"]
    assert set(meta["metrics"]) <= set(METRICS)
    assert docs[0].service in {"", *SERVICE_BY_NAME}


def test_every_incident_type_has_a_runbook_for_its_metrics() -> None:
    covered = [set(d.payload["metrics"]) for d in load_runbooks(SHIPPED)]
    for incident_type in INCIDENT_TYPES:
        moved = {m for svc in SERVICES for m in signature(incident_type, svc)}
        assert any(moved <= metrics for metrics in covered), incident_type


def test_shipped_runbooks_quote_the_baselines() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in shipped_files())
    for phrase in ("200 ms", "70 %", "1 %"):
        assert phrase in text
    for command in ("kubectl", "pg_stat_activity", "GC.class_histogram", "df -h", "egrep"):
        assert command in text
    assert re.search(r"\begosh\b", text)
    assert re.search(r"\bbadmin\b", text)


# --------------------------------------------------------------------------- domain documents
def shipped_analysis() -> AnalysisConfig:
    data = yaml.safe_load((REPO / "data_config" / "ai-config.yml").read_text(encoding="utf-8"))
    return AnalysisConfig.model_validate(data["analysis"])


def test_domain_documents_from_the_shipped_config() -> None:
    analysis = shipped_analysis()
    docs = domain_documents(analysis)
    assert len(docs) == len(analysis.domain_knowledge) + len(analysis.baselines)
    assert {(d.source, d.kind) for d in docs} == {("domain", "note")}
    notes = [d for d in docs if d.payload["type"] == "domain_knowledge"]
    assert [d.text for d in notes] == list(analysis.domain_knowledge)
    assert [d.payload["index"] for d in notes] == list(range(len(notes)))
    baselines = {d.payload["metric"]: d for d in docs if d.payload["type"] == "baseline"}
    p95 = baselines["latency_p95_ms"]
    assert p95.text == "Baseline: API p95 response time under 200 ms (latency_p95_ms max 200)"
    assert p95.title == "Baseline: latency_p95_ms"
    assert (p95.payload["max"], p95.payload["min"]) == (200, None)
    assert baselines["cpu_usage"].text == "Baseline: CPU usage under 70 % (cpu_usage max 70)"
    assert len({d.id for d in docs}) == len(docs)
    assert [d.id for d in domain_documents(analysis)] == [d.id for d in docs]


def test_domain_documents_describe_bounds_without_a_description() -> None:
    analysis = AnalysisConfig(
        baselines=(Baseline(metric="request_rate", min=5, max=220.5),),
        domain_knowledge=("Payments talks to the fraud API at fraud.example.com.",),
    )
    docs = domain_documents(analysis, redact=lambda s: s.replace("fraud.example.com", "[host]"))
    assert docs[0].text == "Payments talks to the fraud API at [host]."
    assert docs[1].text == (
        "Baseline: request_rate under 220.5 and over 5 (request_rate min 5, max 220.5)"
    )
    assert domain_documents(AnalysisConfig()) == []
