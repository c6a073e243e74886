"""``vigil dataset`` end to end: the real vocabulary, the real generator and files, LLMs through
loopback stand-ins (Ollama, OpenAI), and a real process killed with SIGKILL mid-run."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.standins import ollama_api, openai_api
from tests.standins.loopback import distinct_answer
from training.dataset_paths import SAMPLE_TYPES, DatasetPaths
from training.language_dataset import load_language_dataset
from training.metrics_dataset import load_metrics_dataset

REPO = Path(__file__).resolve().parents[2]


def _edit_config(config_dir: Path, **datasets: Any) -> None:
    path = config_dir / "ai-config.yml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("datasets", {}).update(datasets)
    path.write_text(yaml.safe_dump(data))


def _paths(data_dir: Path) -> DatasetPaths:
    return DatasetPaths.in_data_dir(data_dir)


def _ok(result: Any) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output)
    return str(result.output)


def test_static_generation_then_status_summary_and_a_rerun_with_nothing_to_do(
    cli: CliRunner, data_dir: Path
) -> None:
    out = _ok(
        cli.invoke(
            app,
            ["dataset", "generate", "--backend", "static", "--language-samples", "90",
             "--metrics-samples", "2000"],
        )
    )  # fmt: skip
    assert "metrics: metrics dataset generated: 2,000 samples" in out
    assert "pool: static-template" in out
    paths = _paths(data_dir)
    doc = load_language_dataset(paths.language)
    by_type: dict[str, int] = {}
    for sample in doc["samples"]:
        by_type[sample["type"]] = by_type.get(sample["type"], 0) + 1
    assert by_type == {t: 10 for t in SAMPLE_TYPES}
    assert doc["metadata"]["model_distribution"] == {"static-template": 90}
    assert len(load_metrics_dataset(paths.metrics)) == 2000

    status = json.loads(_ok(cli.invoke(app, ["dataset", "status", "--json"])))
    assert {r["type"]: (r["done"], r["target"]) for r in status["types"]} == {
        t: (10, 10) for t in SAMPLE_TYPES
    }
    assert status["remaining"] == 0 and status["metrics"]["done"] == 2000
    assert status["rate_per_s"] > 0
    summary = json.loads(_ok(cli.invoke(app, ["dataset", "summary", "--json"])))
    assert summary["language"]["by_model_type"] == {"static_template": 90}
    assert summary["metrics"]["generation_stats"]["anomaly_samples"] > 0

    backups_before = sorted(paths.backups.glob("*")) if paths.backups.exists() else []
    again = _ok(
        cli.invoke(
            app,
            ["dataset", "generate", "--backend", "static", "--language-samples", "90",
             "--metrics-samples", "2000"],
        )
    )  # fmt: skip
    assert "nothing to ask" in again and "metrics dataset up to date" in again
    assert (sorted(paths.backups.glob("*")) if paths.backups.exists() else []) == backups_before


def test_a_changed_vocabulary_generates_only_the_new_prompts(
    cli: CliRunner, data_dir: Path, config_dir: Path
) -> None:
    args = ["dataset", "generate", "--backend", "static", "--types", "technical_explanation",
            "--language-samples", "30"]  # fmt: skip
    _ok(cli.invoke(app, args))
    before = {s["id"]: s for s in load_language_dataset(_paths(data_dir).language)["samples"]}
    terms_file = config_dir / "technical_terms.yaml"
    data = yaml.safe_load(terms_file.read_text())
    category = next(iter(data["categories"].values()))
    new_term = dict(category["terms"][0], name="vigil_canary_term")
    category["terms"].append(new_term)
    terms_file.write_text(yaml.safe_dump(data, sort_keys=False))

    out = _ok(cli.invoke(app, args))
    assert "the vocabulary changed since the last run" in out
    after = {s["id"]: s for s in load_language_dataset(_paths(data_dir).language)["samples"]}
    added = [s for sid, s in after.items() if sid not in before]
    # the new term's prompts, and those of the few terms whose answers now mention it
    assert "vigil_canary_term" in {s["term"] for s in added}
    assert sum(s["term"] == "vigil_canary_term" for s in added) >= len(added) // 2
    assert all(after[sid] == s for sid, s in before.items())  # old samples untouched


def test_a_wrong_vocabulary_key_is_one_line_and_exit_2(cli: CliRunner, config_dir: Path) -> None:
    path = config_dir / "error_patterns.yaml"
    path.write_text(path.read_text().replace("\npatterns:", "\npaterns:", 1))
    result = cli.invoke(app, ["dataset", "generate", "--backend", "static"])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "error_patterns.yaml" in line and "paterns" in line


def test_reset_asks_backs_up_and_keeps_three_compressed_backups(
    cli: CliRunner, data_dir: Path
) -> None:
    paths = _paths(data_dir)
    refused = cli.invoke(app, ["dataset", "reset"])
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    for n in range(4):
        _ok(cli.invoke(app, ["dataset", "generate", "--types", "metrics",
                             "--metrics-samples", str(1000 + 100 * n)]))  # fmt: skip
    assert paths.metrics.exists()
    out = _ok(cli.invoke(app, ["dataset", "reset", "--yes", "--types", "metrics"]))
    assert "backup:" in out and not paths.metrics.exists()
    kept = sorted(p.name for p in paths.backups.iterdir())
    assert len(kept) == 3
    assert sum(name.endswith(".json.gz") for name in kept) == 2  # older ones compressed
    newest = max(kept)
    assert newest.endswith(".json") and "metrics_dataset_backup_" in newest


def test_a_damaged_metrics_dataset_is_restored_from_the_newest_valid_backup(
    cli: CliRunner, data_dir: Path
) -> None:
    paths = _paths(data_dir)
    _ok(cli.invoke(app, ["dataset", "generate", "--types", "metrics", "--metrics-samples", "1000"]))
    _ok(cli.invoke(app, ["dataset", "generate", "--types", "metrics", "--metrics-samples", "1200"]))
    paths.metrics.write_text(paths.metrics.read_text()[:5000])  # cut short
    status = _ok(cli.invoke(app, ["dataset", "status"]))
    assert "shown from its backup metrics_dataset_backup_" in status  # status only reads
    assert "1,000 / 20,000" in status  # the backup holds the first run
    assert not list(paths.root.glob("metrics_dataset.json.corrupt-*"))
    out = _ok(cli.invoke(app, ["dataset", "generate", "--types", "metrics",
                               "--metrics-samples", "1000"]))  # fmt: skip
    assert "restored it from the backup metrics_dataset_backup_" in out
    assert "metrics dataset up to date: 1,000 samples" in out
    assert len(load_metrics_dataset(paths.metrics)) == 1000
    assert list(paths.root.glob("metrics_dataset.json.corrupt-*"))


def test_ollama_models_rotate_kept_warm_and_answer_in_parallel(
    cli: CliRunner, data_dir: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ollama_api.serve(models={"qwen2.5:1b", "gemma3:1b"}, answer=distinct_answer) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        _edit_config(
            config_dir,
            pool=[{"backend": "ollama", "model": "qwen2.5:1b"},
                  {"backend": "ollama", "model": "gemma3:1b"}],
            keep_alive="45m",
        )  # fmt: skip
        out = _ok(cli.invoke(app, ["dataset", "generate", "--types", "conversation",
                                   "--language-samples", "12"]))  # fmt: skip
        chats = ollama.chats
    assert "12 new samples" in out
    assert ollama.loaded == {"qwen2.5:1b", "gemma3:1b"}  # preloaded for the run
    assert chats and all(c.body["keep_alive"] == "45m" for c in chats)
    samples = load_language_dataset(_paths(data_dir).language)["samples"]
    assert {s["model"] for s in samples} == {"qwen2.5:1b", "gemma3:1b"}
    assert {s["model_type"] for s in samples} == {"ollama_direct"}
    # two models per prompt: each prompt answered by both
    prompts: dict[str, set[str]] = {}
    for s in samples:
        prompts.setdefault(s["prompt"], set()).add(s["model"])
    assert all(len(models) == 2 for models in prompts.values())


def test_failures_are_kept_and_retry_failed_asks_them_again(
    cli: CliRunner, data_dir: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with openai_api.serve(models={"gpt-4o-mini"}, answer=distinct_answer, fail_status=503) as api:
        monkeypatch.setenv("OPENAI_BASE_URL", api.url)
        _edit_config(config_dir, pool=[{"backend": "openai", "model": "gpt-4o-mini"}])
        failed = cli.invoke(app, ["dataset", "generate", "--types", "banking_scenario",
                                  "--language-samples", "6"])  # fmt: skip
        assert failed.exit_code == 1, failed.output
        assert "every model in the pool is down" in failed.output
        status = json.loads(_ok(cli.invoke(app, ["dataset", "status", "--json"])))
        banking = next(r for r in status["types"] if r["type"] == "banking_scenario")
        assert banking["done"] == 0 and banking["failed"] > 0
        n_failed = banking["failed"]
        api.fail_status = None
        out = _ok(cli.invoke(app, ["dataset", "retry-failed"]))
    assert f"language: {n_failed} new samples" in out
    status = json.loads(_ok(cli.invoke(app, ["dataset", "status", "--json"])))
    banking = next(r for r in status["types"] if r["type"] == "banking_scenario")
    assert banking["failed"] == 0 and banking["done"] == n_failed


def test_privacy_block_sends_nothing_and_uses_the_templates(
    cli: CliRunner, data_dir: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_dir / "ai-config.yml"
    data = yaml.safe_load(path.read_text())
    data["privacy"]["external_llm"] = "block"
    path.write_text(yaml.safe_dump(data))
    with openai_api.serve(answer=distinct_answer) as api:
        monkeypatch.setenv("OPENAI_BASE_URL", api.url)
        out = _ok(cli.invoke(app, ["dataset", "generate", "--types", "conversation",
                                   "--language-samples", "4"]))  # fmt: skip
        assert api.requests == []
    assert "privacy.external_llm is block" in out
    samples = load_language_dataset(_paths(data_dir).language)["samples"]
    assert {s["model"] for s in samples} == {"static-template"}


def test_a_second_generation_is_refused_while_one_runs(cli: CliRunner, data_dir: Path) -> None:
    paths = _paths(data_dir)
    paths.root.mkdir(parents=True)
    with (paths.root / ".generate.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        result = cli.invoke(app, ["dataset", "generate", "--backend", "static"])
    assert result.exit_code == 1
    assert "being generated by process 4242" in result.stderr


# ---------------------------------------------------------------------------------- kill -9
def _samples_on_disk(paths: DatasetPaths) -> set[str]:
    """Ids of the samples a reader would find now: the dataset file and the journal."""
    ids: set[str] = set()
    if paths.language.exists():
        ids |= {s["id"] for s in load_language_dataset(paths.language)["samples"]}
    if paths.journal.exists():
        for line in paths.journal.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("kind") == "ok":
                ids.add(event["sample"]["id"])
    return ids


def test_kill_9_mid_generation_then_resume_loses_and_repeats_nothing(
    config_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """A real ``vigil dataset generate`` against an OpenAI stand-in is killed with SIGKILL
    twice; the files stay valid, and the resumed run ends with every sample exactly once."""
    _edit_config(
        config_dir,
        pool=[{"backend": "openai", "model": "model-a"}, {"backend": "openai", "model": "model-b"}],
        concurrency={"openai": 4},
        checkpoint_every="1s",
    )
    paths = _paths(data_dir)
    target = 120
    command = [sys.executable, "-m", "bot", "dataset", "generate", "--types",
               "technical_explanation,error_troubleshooting,conversation",
               "--language-samples", str(target)]  # fmt: skip
    with openai_api.serve(
        models={"model-a", "model-b"}, answer=distinct_answer, delay_s=0.05
    ) as api:
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "VIGIL_DATA_DIR": str(data_dir),
            "VIGIL_CONFIG_DIR": str(config_dir),
            "OPENAI_BASE_URL": api.url,
        }
        kept: set[str] = set()
        for kill_at in (25, 70):  # completions answered before the kill
            worker = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)  # fmt: skip
            deadline = time.monotonic() + 120
            while len(api.completions) < kill_at and worker.poll() is None:
                assert time.monotonic() < deadline, "the generator made no progress"
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            assert worker.stderr is not None
            worker.stderr.close()
            assert worker.returncode == -signal.SIGKILL
            on_disk = _samples_on_disk(paths)
            assert kept <= on_disk  # nothing completed before an earlier kill was lost
            kept = on_disk
        assert 0 < len(kept) < target
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        asked = [  # a request cut off by a kill has no body
            (r.body["model"], json.dumps(r.body["messages"]))
            for r in api.completions
            if isinstance(r.body, dict)
        ]
    doc = load_language_dataset(paths.language)
    ids = [s["id"] for s in doc["samples"]]
    assert len(ids) == len(set(ids)) == target == doc["metadata"]["total_samples"]
    assert kept <= set(ids)
    repeats = len(asked) - len(set(asked))
    assert repeats <= 2 * 4  # only pairs in flight at each kill were asked again
    assert paths.journal.read_text() == ""
