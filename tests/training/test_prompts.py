"""Work items and static answers: enough distinct items, stable keys, a spread order, and
answers that differ by angle and come only from the vocabulary."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from training.dataset_paths import SAMPLE_TYPES
from training.prompts import StaticResponder, WorkItem, build_items, neighbour_terms
from training.vocabulary import Vocabulary, load_vocabulary


@pytest.fixture
def vocab(config_dir: Path) -> Vocabulary:
    return load_vocabulary(config_dir)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def _jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b)


def _all(items: dict[str, list[WorkItem]]) -> list[WorkItem]:
    return [item for kind in items.values() for item in kind]


def test_every_type_has_items_and_there_are_enough(vocab: Vocabulary) -> None:
    started = time.perf_counter()
    items = build_items(vocab)
    built_in = time.perf_counter() - started
    everything = _all(items)
    print(f"\n{len(everything)} items built in {built_in:.3f} s "
          f"({len(everything) / built_in:,.0f} items/s)")  # fmt: skip
    assert tuple(items) == SAMPLE_TYPES
    assert len(everything) >= 5000
    assert len({i.key for i in everything}) == len(everything)
    for kind, kind_items in items.items():
        assert kind_items, kind
        assert all(i.type == kind and i.system.strip() and i.prompt.strip() for i in kind_items)


def test_a_subset_of_types_and_an_unknown_type(vocab: Vocabulary) -> None:
    items = build_items(vocab, ["banking_scenario", "conversation"])
    assert set(items) == {"banking_scenario", "conversation"}
    with pytest.raises(ValueError, match="unknown sample type 'gossip'"):
        build_items(vocab, ["gossip"])


def test_keys_are_stable_across_loads(config_dir: Path) -> None:
    first = [i.key for i in _all(build_items(load_vocabulary(config_dir)))]
    second = [i.key for i in _all(build_items(load_vocabulary(config_dir)))]
    assert first == second


def test_a_changed_term_changes_only_the_keys_that_depend_on_it(config_dir: Path) -> None:
    before = build_items(load_vocabulary(config_dir))
    path = config_dir / "technical_terms.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    term = data["categories"]["java_runtime"]["terms"][0]
    term["troubleshooting"] += " Check the container limit as well."
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    changed_vocab = load_vocabulary(config_dir)
    after = build_items(changed_vocab)
    name = term["name"]
    # terms whose answers quote this one (their comparison / related answers)
    quoting = {
        t.name
        for cat, t in changed_vocab.technical_terms.all_terms()
        if name in {n.name for n in neighbour_terms(changed_vocab, cat, t)}
    }
    old_keys = {i.key for i in _all(before)}
    new_items = _all(after)
    changed = [i for i in new_items if i.key not in old_keys]
    assert changed
    assert {i.term for i in changed} <= {name} | quoting
    assert all(i.key not in old_keys for i in new_items if i.term == name)
    same = [i for i in new_items if i.term not in {name} | quoting]
    assert all(i.key in old_keys for i in same)
    assert len(changed) < len(new_items) // 20


def test_a_prefix_spreads_over_terms_and_templates(vocab: Vocabulary) -> None:
    items = build_items(vocab)
    technical = items["technical_explanation"]
    n_terms = len(vocab.technical_terms.all_terms())
    first = technical[:n_terms]
    assert len({i.term for i in first}) == n_terms
    assert len({i.template_id for i in first}) == 5
    assert len({i.category for i in technical[:12]}) >= 10
    styles = items["question_style_variation"][:50]
    assert len({i.term for i in styles}) >= 45
    assert len({i.template_id for i in styles}) >= 20
    people = items["personality_response"][:40]
    assert len({i.category for i in people}) == 8
    errors = items["error_troubleshooting"][:40]
    assert len({i.term for i in errors}) == 40 and len({i.template_id for i in errors}) == 5


def test_static_answers_are_complete_and_deterministic(vocab: Vocabulary) -> None:
    everything = _all(build_items(vocab))
    responder = StaticResponder(vocab)
    started = time.perf_counter()
    answers = [responder.respond(i) for i in everything]
    took = time.perf_counter() - started
    print(f"\n{len(answers)} static responses in {took:.3f} s ({len(answers) / took:,.0f}/s)")
    for item, answer in zip(everything, answers, strict=True):
        assert len(answer.split()) >= 30, (item.type, item.term, item.template_id)
        assert answer.rstrip()[-1] in '.!?"', (item.type, item.term, item.template_id)
        assert "{term}" not in answer and "{label}" not in answer, (item.term, item.template_id)
    again = StaticResponder(load_vocabulary_from(vocab))
    assert [again.respond(i) for i in everything[::97]] == answers[::97]


def load_vocabulary_from(vocab: Vocabulary) -> Vocabulary:
    return Vocabulary.model_validate(vocab.model_dump())


def test_angles_of_one_entry_differ_and_nothing_is_a_near_duplicate(vocab: Vocabulary) -> None:
    everything = _all(build_items(vocab))
    responder = StaticResponder(vocab)
    by_entry: dict[tuple[str, str, str], list[set[tuple[str, ...]]]] = defaultdict(list)
    by_term: dict[str, list[set[tuple[str, ...]]]] = defaultdict(list)
    for item in everything:
        shingles = _shingles(responder.respond(item))
        by_entry[(item.type, item.category, item.term)].append(shingles)
        by_term[item.term].append(shingles)
    worst_angle = max(
        _jaccard(a, b)
        for group in by_entry.values()
        for n, a in enumerate(group)
        for b in group[n + 1 :]
    )
    assert worst_angle < 0.6
    worst_overall = max(
        _jaccard(a, b)
        for group in by_term.values()
        for n, a in enumerate(group)
        for b in group[n + 1 :]
    )
    assert worst_overall < 0.85  # the generator's near-duplicate threshold


def test_answers_come_from_the_yaml(config_dir: Path) -> None:
    path = config_dir / "banking_terms.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["terms"][0]["evidence"] = "Auditors expect the quarterly zebra-striped control binder."
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    vocab = load_vocabulary(config_dir)
    items = build_items(vocab, ["banking_scenario"])["banking_scenario"]
    target = [i for i in items if i.term == data["terms"][0]["name"]]
    answers = {i.template_id: StaticResponder(vocab).respond(i) for i in target}
    assert "zebra-striped control binder" in answers["evidence"]
    assert "zebra-striped control binder" in answers["operations"]  # it pairs with evidence
    assert "zebra-striped" not in answers["definition"]


def test_personas_set_the_system_message(vocab: Vocabulary) -> None:
    items = build_items(vocab, ["personality_response"])["personality_response"]
    prompts = {p.name: p.system_prompt for p in vocab.personality_types.personalities}
    assert all(i.system == prompts[i.category] for i in items)
    assert len({i.system for i in items}) == len(prompts)


def test_an_item_from_elsewhere_is_a_clear_key_error(vocab: Vocabulary) -> None:
    stranger = WorkItem("0" * 16, "banking_scenario", "no_such_term", "cat", "Q?", "S", "evidence")
    with pytest.raises(KeyError, match="no_such_term"):
        StaticResponder(vocab).respond(stranger)
