"""The language generator over in-process items and answerers: targets, rotation, quality,
retries, models that go down, interruption and resume, damaged files."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from knowledge.errors import ProviderError
from training.backends import Member, Pool, static_member
from training.dataset_config import DatasetConfig
from training.dataset_files import Backups
from training.dataset_paths import DatasetPaths
from training.generate import LanguageGenerator, RunReport, allocate
from training.language_dataset import load_language_dataset
from training.language_store import LanguageStore
from training.progress import FAILED, Progress, parse_progress
from training.prompts import WorkItem
from training.quality import QualityFilter

TYPES = ("technical_explanation", "error_troubleshooting", "conversation")
_TEXT = (
    "heap pool latency thread queue disk memory cache index shard replica leader follower timeout "
    "retry backoff socket kernel page vemkd slot consumer resource session broker"
)
WORDS = _TEXT.split()


def items(per_type: int = 40) -> dict[str, list[WorkItem]]:
    return {
        t: [
            WorkItem(
                key=f"{n:04d}{t[:4]}".ljust(16, "0"),
                type=t,
                term=f"term{n}",
                category="cat",
                prompt=f"Explain term{n} for {t}.",
                system="You are an SRE.",
            )
            for n in range(per_type)
        ]
        for t in TYPES
    }


def unique_answer(member: Member, item: WorkItem) -> str:
    """A distinct answer of ~40 words per (model, prompt), so the quality filter keeps it."""
    seed = abs(hash((member.slug, item.key))) % (2**32)
    words = [
        WORDS[(seed >> (i % 28) ^ i * 7) % len(WORDS)] + str((seed + i) % 97) for i in range(40)
    ]
    return f"{item.term} on {member.model}: " + " ".join(words) + "."


def run(
    tmp_path: Path,
    targets: dict[str, int],
    answer=unique_answer,  # type: ignore[no-untyped-def]
    members: list[Member] | None = None,
    per_prompt: int = 2,
    stop: threading.Event | None = None,
    **config: object,
) -> tuple[RunReport, LanguageStore]:
    paths = DatasetPaths(tmp_path / "datasets")
    store = LanguageStore(paths, Backups(paths.backups)).open()
    pool = Pool(
        members or [Member("openai", "a"), Member("openai", "b"), Member("openai", "c")],
        per_prompt,
        swap_interval=5,
    )
    options: dict[str, object] = {"checkpoint_every": "1s", "attempts": 2, "give_up_after": 3}
    settings = DatasetConfig.model_validate({**options, **config})
    generator = LanguageGenerator(
        store,
        items(),
        targets,
        pool,
        answer,
        settings,
        quality=QualityFilter(20, 0.85),
        config_hash="h1",
        stop=stop,
    )
    generator.retry_delay_s = generator.streak_window_s = 0.0  # no waiting in tests
    report = generator.run()
    return report, store


def test_allocate_splits_evenly_and_gives_a_full_types_share_to_the_others() -> None:
    assert allocate(90, {"a": 100, "b": 100, "c": 100}, {}) == {"a": 30, "b": 30, "c": 30}
    got = allocate(90, {"a": 10, "b": 100, "c": 100}, {})
    assert got == {"a": 10, "b": 40, "c": 40}
    assert sum(allocate(7, {"a": 5, "b": 5}, {}).values()) == 7
    assert allocate(30, {"a": 100, "b": 100}, {"a": 2, "b": 1}) == {"a": 20, "b": 10}
    assert allocate(1000, {"a": 3, "b": 4}, {}) == {"a": 3, "b": 4}


def test_pool_rotates_every_swap_interval_and_skips_models_that_are_down() -> None:
    members = [Member("ollama", m) for m in "abcd"]
    pool = Pool(members, per_prompt=2, swap_interval=3)
    assert [str(m) for m in pool.active(0)] == ["a", "b"]
    assert [str(m) for m in pool.active(2)] == ["a", "b"]
    assert [str(m) for m in pool.active(3)] == ["c", "d"]
    assert [str(m) for m in pool.active(6)] == ["a", "b"]
    pool.down.add(members[0])
    assert [str(m) for m in pool.active(0)] == ["b", "c"]


def test_a_run_reaches_its_targets_with_two_models_per_prompt(tmp_path: Path) -> None:
    targets = {"technical_explanation": 20, "error_troubleshooting": 11, "conversation": 6}
    report, store = run(tmp_path, targets)
    assert report.done == targets  # never overshoots, even with an odd target
    doc = load_language_dataset(store.paths.language)
    assert Counter(s["type"] for s in doc["samples"]) == Counter(targets)
    ids = [s["id"] for s in doc["samples"]]
    assert len(ids) == len(set(ids))
    # each prompt was answered by two different models of its rotation window
    per_prompt = Counter((s["type"], s["term"]) for s in doc["samples"])
    assert max(per_prompt.values()) == 2
    models = {(s["term"], s["type"]): set() for s in doc["samples"]}
    for s in doc["samples"]:
        models[(s["term"], s["type"])].add(s["model"])
    assert all(len(v) == per_prompt[k[::-1]] for k, v in models.items())
    assert doc["metadata"]["rotation_info"]["model_pool"] == ["a", "b", "c"]
    assert doc["metadata"]["rotation_info"]["swap_interval"] == 5
    assert sum(doc["metadata"]["model_distribution"].values()) == len(ids)
    assert {s["generation_batch"] for s in doc["samples"]} != {0}  # windows rotated
    assert store.paths.journal.read_text() == ""  # folded into the checkpoint
    progress = parse_progress(store.paths.progress.read_text(), "p")
    assert progress.folded_seq == progress.next_seq - 1
    log = json.loads((store.paths.logs / f"{report.session_id}.json").read_text())
    assert log["generated"] == sum(targets.values()) and log["finished"]


def test_rejected_answers_are_replaced_by_further_prompts(tmp_path: Path) -> None:
    def answer(member: Member, item: WorkItem) -> str:
        if member.model == "b":
            return "I'm sorry, but I can't help with that request."
        return unique_answer(member, item)

    report, store = run(tmp_path, {"conversation": 10})
    assert report.rejected == Counter()
    report, store = run(tmp_path / "2", {"conversation": 10}, answer=answer)
    assert report.done["conversation"] == 10
    assert report.rejected["refusal"] > 0
    assert all(s["model"] != "b" for s in store.samples.values())


def test_a_failing_model_is_retried_then_left_out_and_its_prompts_go_to_others(
    tmp_path: Path,
) -> None:
    calls: Counter[str] = Counter()

    def answer(member: Member, item: WorkItem) -> str:
        calls[member.model] += 1
        if member.model == "b":
            raise ProviderError("openai at http://x answered HTTP 500: overloaded")
        return unique_answer(member, item)

    report, store = run(
        tmp_path, {"technical_explanation": 30}, answer=answer, concurrency={"openai": 1}
    )
    assert report.done["technical_explanation"] == 30
    assert report.down == ["b"]
    assert calls["b"] == 3  # give_up_after, one request at a time, then never again
    assert any("b failed 3 times in a row" in m for m in report.messages)
    assert all(s["model"] != "b" for s in store.samples.values())


def test_failures_after_the_retries_are_recorded_for_retry_failed(tmp_path: Path) -> None:
    flaky = {"n": 0}

    def answer(member: Member, item: WorkItem) -> str:
        if item.term in ("term1", "term2"):
            flaky["n"] += 1
            raise ProviderError("timed out after 120s")
        return unique_answer(member, item)

    report, store = run(
        tmp_path,
        {"error_troubleshooting": 8},
        answer=answer,
        members=[Member("openai", "a")],
        per_prompt=1,
        give_up_after=10,
    )
    assert report.failed == 2 and flaky["n"] == 4  # two tries each
    failed = store.progress.failures()
    assert {f[3].reason for f in failed} == {"timed out after 120s"}
    assert all(f[3].status == FAILED and f[3].attempts == 2 for f in failed)
    assert report.done["error_troubleshooting"] == 8  # others filled the target


def test_an_interrupted_run_resumes_without_duplicates_or_losses(tmp_path: Path) -> None:
    stop = threading.Event()
    seen: list[str] = []

    def answer(member: Member, item: WorkItem) -> str:
        seen.append(item.key + member.slug)
        if len(seen) == 25:
            stop.set()
        return unique_answer(member, item)

    targets = {t: 30 for t in TYPES}
    first, store = run(tmp_path, targets, answer=answer, stop=stop)
    assert first.interrupted and 0 < sum(first.done.values()) < 90
    kept = set(
        load_language_dataset(store.paths.language)["samples"][i]["id"]
        for i in range(sum(first.done.values()))
    )
    second, store = run(tmp_path, targets, answer=answer)
    doc = load_language_dataset(store.paths.language)
    ids = [s["id"] for s in doc["samples"]]
    assert len(ids) == len(set(ids)) == 90
    assert kept <= set(ids)
    assert second.generated == 90 - len(kept)
    assert len(seen) == len(set(seen))  # no pair was asked twice


def test_a_damaged_dataset_is_restored_from_its_backup_and_the_rest_regenerated(
    tmp_path: Path,
) -> None:
    run(tmp_path, {"conversation": 10})
    paths = DatasetPaths(tmp_path / "datasets")
    Backups(paths.backups).backup(paths.language)
    backed_up = {s["id"] for s in load_language_dataset(paths.language)["samples"]}
    run(tmp_path, {"conversation": 20})
    paths.language.write_text('{"metadata": {"total_samp')  # torn / damaged
    store = LanguageStore(paths, Backups(paths.backups)).open()
    assert any("restored it from the backup" in m for m in store.messages)
    assert any(
        "10 sample(s) lost with the damaged file will be generated again" in m
        for m in store.messages
    )
    assert set(store.samples) == backed_up
    store.close()
    assert list(paths.root.glob("language_dataset.json.corrupt-*"))
    report, store = run(tmp_path, {"conversation": 20})
    assert report.generated == 10 and report.done["conversation"] == 20


def test_a_damaged_progress_file_is_restored_and_reconciled_with_the_dataset(
    tmp_path: Path,
) -> None:
    run(tmp_path, {"conversation": 6})
    paths = DatasetPaths(tmp_path / "datasets")
    text = paths.progress.read_text()
    paths.progress.write_text(text.replace('"folded_seq"', '"folded_seq_"'))  # checksum fails
    store = LanguageStore(paths, Backups(paths.backups)).open()
    assert any("progress" in m and "checksum mismatch" in m for m in store.messages)
    assert any(
        "6 sample(s) missing from the progress file were counted" in m for m in store.messages
    )
    store.close()
    report, _ = run(tmp_path, {"conversation": 6})
    assert report.generated == 0


def test_journal_events_after_the_last_checkpoint_are_replayed_once(tmp_path: Path) -> None:
    run(tmp_path, {"conversation": 4})
    paths = DatasetPaths(tmp_path / "datasets")
    store = LanguageStore(paths, Backups(paths.backups)).open()
    before = len(store.samples)
    sample = dict(
        next(iter(store.samples.values())),
        id="conversation-ffffffffffffffff-openai-z",
        response="z " * 30,
    )
    event = {
        "kind": "ok",
        "type": "conversation",
        "item": "ffffffffffffffff",
        "member": "openai-z",
        "q": 99,
        "at": "2025-01-01T00:00:00+00:00",
        "sample": sample,
    }
    store.emit(event)
    store.journal.append({"seq": 10**6})  # not an event: skipped
    with paths.journal.open("a") as handle:
        handle.write('{"seq": 77, "kind": "ok", "sam')  # a write cut short by kill -9
    store.journal.close()
    again = LanguageStore(paths, Backups(paths.backups)).open()
    assert len(again.samples) == before + 1
    assert again.progress.questions_processed == 100
    assert any("2 unreadable journal line(s)" in m for m in again.messages)
    assert any("1 result(s)" in m for m in again.messages)


def test_static_templates_answer_in_process(tmp_path: Path) -> None:
    report, store = run(
        tmp_path,
        {"conversation": 12},
        members=[static_member()],
        per_prompt=2,
        answer=unique_answer,
    )
    assert report.done["conversation"] == 12
    assert {s["model_type"] for s in store.samples.values()} == {"static_template"}


def test_progress_round_trips_through_its_sealed_file(tmp_path: Path) -> None:
    progress = Progress(config_hash="abc", known_items={"k1", "k2"}, targets={"conversation": 3})
    path = tmp_path / "p.json"
    progress.save(path)
    again = parse_progress(path.read_text(), str(path))
    assert again.known_items == {"k1", "k2"} and again.targets == {"conversation": 3}
    with pytest.raises(Exception, match="checksum mismatch"):
        parse_progress(path.read_text().replace("abc", "abd"), str(path))


def test_a_model_going_down_in_a_mixed_pool_hands_its_prompts_to_models_not_yet_asked(
    tmp_path: Path,
) -> None:
    def answer(member: Member, item: WorkItem) -> str:
        if member.model == "a":
            raise ProviderError("ollama at http://x could not be reached: refused")
        return unique_answer(member, item)

    members = [Member("ollama", "a"), Member("ollama", "b"), Member("openai", "c")]
    report, store = run(tmp_path, {"conversation": 20}, answer=answer, members=members)
    assert report.done["conversation"] == 20 and report.down == ["a"]
    per_prompt: dict[str, list[str]] = {}
    for s in store.samples.values():
        per_prompt.setdefault(s["term"], []).append(s["model"])
    assert all(sorted(m) == ["b", "c"] for m in per_prompt.values()), per_prompt
    assert report.generated == len(store.samples) == 20


def test_concurrency_limits_not_named_keep_their_defaults() -> None:
    config = DatasetConfig.model_validate({"concurrency": {"openai": 4}})
    assert config.limit("openai") == 4 and config.limit("ollama") == 2
    with pytest.raises(ValueError, match="unknown backend"):
        DatasetConfig.model_validate({"concurrency": {"olama": 4}})
