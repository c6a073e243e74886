"""Work items for the language dataset: prompt templates crossed with the vocabulary, and the
static responder that answers them from the vocabulary alone (the fallback backend).

Each sample type has several templates, each an *angle* on its entry (what it is, how to monitor
it, how to troubleshoot it, why it matters, ...). ``build_items`` crosses them with the YAML
content and orders every type's items so that a prefix covers many entries and templates.

An item's ``key`` is a digest of its type, category, term, template and the content of the
vocabulary entries it draws on, so the same configuration always gives the same keys, and a
changed entry changes only the keys of the items built from it.

``StaticResponder`` composes an answer per angle from different fields of the entry (each angle
pairs its own field with a neighbour's), so the answers to two templates of one term differ
clearly and survive a near-duplicate filter.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from training.dataset_paths import SAMPLE_TYPES
from training.vocabulary import ANGLES, Term, Vocabulary

DEFAULT_SYSTEM = (
    "You are Vigil, an observability assistant for an operations team running Red Hat Linux, IBM "
    "Spectrum Conductor, Splunk, Java services, Jira and Confluence in a regulated bank. Answer "
    "accurately and practically, in plain English, for the on-call engineer reading it."
)
SYSTEMS: dict[str, str] = {
    "error_troubleshooting": DEFAULT_SYSTEM
    + " When given an error, explain what it means, then how to diagnose and fix it.",
    "project_management": DEFAULT_SYSTEM
    + " Relate delivery and ITSM practice to how the operations team really works.",
    "banking_scenario": DEFAULT_SYSTEM
    + " Be precise about regulation and controls and what they mean for operations.",
    "metrics_explanation": DEFAULT_SYSTEM
    + " Give units, normal ranges and thresholds, and what moves together.",
}


@dataclass(frozen=True)
class WorkItem:
    """One prompt to answer. ``template_id`` names the template (the angle) it was built from;
    the static responder uses it to pick what to say."""

    key: str
    type: str
    term: str
    category: str
    prompt: str
    system: str
    template_id: str = ""


# ------------------------------------------------------------------------------- templates
TECH_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("definition", "What is {label}, and what does it do in our stack?"),
    ("monitoring", "How should we monitor {label}, and which signals show that it is unhealthy?"),
    ("troubleshooting", "{label} is misbehaving on a production host. How do I troubleshoot it?"),
    ("impact", "Why does {label} matter to the business, and what happens when it goes wrong?"),
    ("related", "How does {label} fit together with the other parts of {area}?"),
)
ERROR_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("meaning", "I'm seeing this in the logs: {message}\nWhat does it mean?"),
    ("diagnosis", "How do I diagnose {label} on our {area} systems?"),
    ("resolution", "What is the fix for this error? {message}"),
    ("prevention", "{label} keeps coming back. How do we stop it from happening again?"),
    ("triage", "An alert for {label} fired at 3 a.m. How urgent is it, and what do I do first?"),
)
CONVERSATION_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("ask", "{user}"),
    (
        "next",
        "{context} {user} If the obvious checks don't explain it, what should I look at next?",
    ),
    ("stakeholder", "{user} Also, what should I tell the managers who are asking?"),
)
PM_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("definition", "What does {label} mean in project and service management?"),
    ("operations", "How does an operations team use {label} day to day?"),
    ("example", "Can you give a concrete example of {label} in an SRE team at a bank?"),
    ("pitfalls", "What goes wrong with {label} in practice, and how do we avoid it?"),
)
BANKING_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("definition", "What is {label}?"),
    ("operations", "What does {label} mean for the operations and monitoring team?"),
    ("evidence", "What evidence do auditors or regulators expect for {label}?"),
    ("briefing", "Brief an executive on {label} with a realistic scenario."),
)
METRIC_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("meaning", "What does the {label} metric measure, and what is normal for it?"),
    ("thresholds", "When should {label} raise an alert, and how do I query it?"),
    ("correlations", "What usually moves together with {label}, and what does that tell me?"),
)
ANOMALY_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("signature", "What does a {label} anomaly look like in the metrics?"),
    ("causes", "What usually causes a {label} on a batch host?"),
    (
        "first_checks",
        "The anomaly model flagged a {label} on a Spectrum host. What should I check first?",
    ),
    ("impact", "What is the impact of a {label} if nobody acts on it?"),
)
# field pairs per angle: each angle leads with its own field and adds its neighbour's
TECH_PAIRS = {a: (a, ANGLES[(i + 1) % len(ANGLES)]) for i, a in enumerate(ANGLES)}
PM_FIELDS = ("definition", "in_operations", "example", "pitfalls")
BANK_FIELDS = ("definition", "operational_impact", "evidence", "scenario")


# ------------------------------------------------------------------------------ build_items
def build_items(vocab: Vocabulary, types: Iterable[str] | None = None) -> dict[str, list[WorkItem]]:
    """Every sample type (or the given ones) -> its work items, spread so that a prefix covers
    many entries and templates. An unknown type is a ``ValueError``."""
    wanted = tuple(SAMPLE_TYPES if types is None else types)
    for name in wanted:
        if name not in _BUILDERS:
            raise ValueError(f"unknown sample type '{name}' (known: {', '.join(SAMPLE_TYPES)})")
    digests = _Digests()
    return {name: _spread(list(_BUILDERS[name](vocab, digests))) for name in wanted}


Cell = tuple[int, int, int, WorkItem]  # (entry index, template index, template count, item)


class _Digests:
    """Content digests of vocabulary entries, computed once per build."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def of(self, *entries: Any) -> str:
        parts = []
        for entry in entries:
            found = self._cache.get(id(entry))
            if found is None:
                content = entry if isinstance(entry, str) else entry.model_dump(mode="json")
                dumped = json.dumps(content, sort_keys=True)
                found = hashlib.sha256(dumped.encode("utf-8")).hexdigest()
                self._cache[id(entry)] = found
            parts.append(found)
        return "+".join(parts)


def _item(
    kind: str, category: str, term: str, template_id: str, prompt: str, system: str, digest: str
) -> WorkItem:
    raw = f"{kind}|{category}|{term}|{template_id}|{digest}|{prompt}|{system}"
    key = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]
    return WorkItem(key, kind, term, category, prompt, system, template_id)


def _spread(cells: list[Cell]) -> list[WorkItem]:
    """Order by round then entry: round r gives entry e its template (e + r) mod count, so the
    first len(entries) items cover every entry, each with a rotating template."""
    cells.sort(key=lambda c: ((c[1] - c[0]) % c[2], c[0], c[1]))
    return [c[3] for c in cells]


def neighbour_terms(vocab: Vocabulary, category: str, term: Term) -> list[Term]:
    """The terms an answer about ``term`` compares it with: its ``related`` terms, or else the
    first two other terms of its category."""
    if term.related:
        by_name = {t.name: t for _, t in vocab.technical_terms.all_terms()}
        return [by_name[r] for r in term.related]
    return [t for t in vocab.technical_terms.categories[category].terms if t.name != term.name][:2]


def _slot(name: str) -> int:
    """A stable number for a name, so the templates a term gets do not depend on file order."""
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16)


def _interleaved_terms(vocab: Vocabulary) -> list[tuple[str, Term]]:
    """All technical terms, round-robin across categories."""
    groups = [[(k, t) for t in c.terms] for k, c in vocab.technical_terms.categories.items()]
    out: list[tuple[str, Term]] = []
    for row in range(max(len(g) for g in groups)):
        out.extend(g[row] for g in groups if row < len(g))
    return out


def _technical(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    system = SYSTEMS.get("technical_explanation", DEFAULT_SYSTEM)
    cats = vocab.technical_terms.categories
    for e, (cat, term) in enumerate(_interleaved_terms(vocab)):
        related = neighbour_terms(vocab, cat, term)
        for j, (tid, text) in enumerate(TECH_TEMPLATES):
            prompt = text.format(label=term.label, area=cats[cat].title)
            extra = (cats[cat].description, *related) if tid == "related" else ()
            yield (
                e,
                j,
                len(TECH_TEMPLATES),
                _item(
                    "technical_explanation", cat, term.name, tid, prompt, system, d.of(term, *extra)
                ),
            )


def _errors(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    system = SYSTEMS["error_troubleshooting"]
    for e, p in enumerate(vocab.error_patterns.patterns):
        area = p.category.replace("_", " ")
        for j, (tid, text) in enumerate(ERROR_TEMPLATES):
            prompt = text.format(label=p.label, message=p.message, area=area)
            yield (
                e,
                j,
                len(ERROR_TEMPLATES),
                _item("error_troubleshooting", p.category, p.name, tid, prompt, system, d.of(p)),
            )


def _conversations(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    for e, c in enumerate(vocab.conversation_prompts.prompts):
        for j, (tid, text) in enumerate(CONVERSATION_TEMPLATES):
            prompt = text.format(user=c.user, context=c.context)
            yield (
                e,
                j,
                len(CONVERSATION_TEMPLATES),
                _item("conversation", c.category, c.name, tid, prompt, DEFAULT_SYSTEM, d.of(c)),
            )


def _personalities(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    people = vocab.personality_types.personalities
    cats = vocab.technical_terms.categories
    for e, (cat, term) in enumerate(_interleaved_terms(vocab)):
        for j, person in enumerate(people):
            angle = ANGLES[(_slot(term.name) + j) % len(ANGLES)]
            text = dict(TECH_TEMPLATES)[angle]
            prompt = text.format(label=term.label, area=cats[cat].title)
            yield e, j, len(people), _item(
                "personality_response", person.name, term.name, f"{person.name}.{angle}",
                prompt, person.system_prompt, d.of(person, term),
            )  # fmt: skip


def _question_styles(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    combos = [(s, k, t) for s in vocab.question_styles.styles for k, t in enumerate(s.templates)]
    cats = vocab.technical_terms.categories
    for e, (cat, term) in enumerate(_interleaved_terms(vocab)):
        for j, (style, k, template) in enumerate(combos):
            prompt = template.text.format(term=term.label)
            extra: tuple[Any, ...] = (cats[cat].title, cats[cat].description)
            if style.answer_format == "comparison":
                extra += tuple(neighbour_terms(vocab, cat, term))
            yield e, j, len(combos), _item(
                "question_style_variation", style.name, term.name, f"{style.name}.{k}",
                prompt, DEFAULT_SYSTEM, d.of(style, term, *extra),
            )  # fmt: skip


def _english(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    """Each pattern asks about a fifth of the terms (a different fifth per pattern, chosen by a
    hash of the term's name), so that every term gets a few phrasings rather than all twenty."""
    patterns = vocab.english_patterns.patterns
    for e, (_, term) in enumerate(_interleaved_terms(vocab)):
        for j, pattern in enumerate(patterns):
            slot = _slot(term.name)
            if (slot - j) % 5:
                continue
            k = (slot // 5) % len(pattern.templates)
            prompt = pattern.templates[k].format(term=term.label)
            yield e, j, len(patterns), _item(
                "english_pattern", pattern.name, term.name, f"{pattern.name}.{k}",
                prompt, DEFAULT_SYSTEM, d.of(pattern, term),
            )  # fmt: skip


def _glossary(
    type_: str, terms: Sequence[Any], templates: Sequence[tuple[str, str]], d: _Digests
) -> Iterator[Cell]:
    """Items of a glossary type (project management, banking): every term with every template."""
    system = SYSTEMS[type_]
    for e, t in enumerate(terms):
        for j, (tid, text) in enumerate(templates):
            yield (
                e,
                j,
                len(templates),
                _item(type_, t.category, t.name, tid, text.format(label=t.label), system, d.of(t)),
            )


def _project(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    return _glossary("project_management", vocab.project_management.terms, PM_TEMPLATES, d)


def _banking(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    return _glossary("banking_scenario", vocab.banking_terms.terms, BANKING_TEMPLATES, d)


def _metrics(vocab: Vocabulary, d: _Digests) -> Iterator[Cell]:
    system = SYSTEMS["metrics_explanation"]
    mp = vocab.metrics_patterns
    entries: list[tuple[str, str, Any, tuple[tuple[str, str], ...], tuple[Any, ...]]] = [
        (name, m.category, m, METRIC_TEMPLATES, tuple(mp.metrics[c] for c in m.correlations))
        for name, m in mp.metrics.items()
    ]
    entries += [
        (name, "anomaly", a, ANOMALY_TEMPLATES, tuple(mp.metrics[c] for c in a.metrics))
        for name, a in mp.anomalies.items()
    ]
    for e, (name, category, entry, templates, others) in enumerate(entries):
        for j, (tid, text) in enumerate(templates):
            yield e, j, len(templates), _item(
                "metrics_explanation", category, name, tid, text.format(label=entry.label),
                system, d.of(entry, *others),
            )  # fmt: skip


_BUILDERS: dict[str, Callable[[Vocabulary, _Digests], Iterator[Cell]]] = {
    "technical_explanation": _technical,
    "error_troubleshooting": _errors,
    "conversation": _conversations,
    "personality_response": _personalities,
    "question_style_variation": _question_styles,
    "english_pattern": _english,
    "project_management": _project,
    "banking_scenario": _banking,
    "metrics_explanation": _metrics,
}


# --------------------------------------------------------------------------- static answers
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_URGENCY = {
    "critical": "This is critical: treat it as an outage in progress, page the owning team and "
    "open an incident now.",
    "high": "This is high severity: act within minutes, because it usually turns into user "
    "impact if left alone.",
    "medium": "This is medium severity: it needs attention during this shift, but you have time "
    "to diagnose before acting.",
    "low": "This is low severity: nothing is down, so it can wait for working hours unless it "
    "spreads.",
}


def _s(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else text + "."


def _first(text: str) -> str:
    return _s(_SENTENCE_END.split(text.strip(), maxsplit=1)[0])


def _numbered(items: Iterable[str]) -> str:
    return "\n".join(f"{i}. {_s(x)}" for i, x in enumerate(items, 1))


def _clauses(text: str) -> list[str]:
    parts = re.split(r"(?<=[.;])\s+|,\s+then\s+|,\s+and\s+then\s+", text.strip())
    return [p[:1].upper() + p[1:] for p in (x.strip(" ;") for x in parts) if len(p) > 3]


def _num(value: float) -> str:
    return f"{value:g}"


def _seconds(style: Any) -> Iterator[tuple[int, str]]:
    """The second angle each template of a style adds to its own, so that no two templates of
    the style answer with the same pair of fields."""
    used: set[frozenset[str]] = set()
    for k, template in enumerate(style.templates):
        index = ANGLES.index(template.angle)
        rotation = [ANGLES[(index + 1 + k + step) % len(ANGLES)] for step in range(len(ANGLES))]
        candidates = [a for a in rotation if a != template.angle]
        fresh = [c for c in candidates if frozenset((template.angle, c)) not in used]
        second = (fresh or candidates)[0]
        used.add(frozenset((template.angle, second)))
        yield k, second


class StaticResponder:
    """Answers work items from the vocabulary alone: deterministic, fast, and a different
    composition per template (angle)."""

    def __init__(self, vocab: Vocabulary) -> None:
        self._vocab = vocab
        self._terms: dict[str, tuple[str, Term]] = {
            t.name: (k, t) for k, t in vocab.technical_terms.all_terms()
        }
        self._errors = {p.name: p for p in vocab.error_patterns.patterns}
        self._talks = {c.name: c for c in vocab.conversation_prompts.prompts}
        self._people = {p.name: p for p in vocab.personality_types.personalities}
        self._styles = {s.name: s for s in vocab.question_styles.styles}
        self._english = {p.name: p for p in vocab.english_patterns.patterns}
        self._pm = {t.name: t for t in vocab.project_management.terms}
        self._bank = {t.name: t for t in vocab.banking_terms.terms}
        self._seconds = {
            (s.name, k): angle for s in vocab.question_styles.styles for k, angle in _seconds(s)
        }
        self._english_index = {p.name: j for j, p in enumerate(vocab.english_patterns.patterns)}
        self._dispatch: dict[str, Callable[[WorkItem], str]] = {
            "technical_explanation": self._technical,
            "error_troubleshooting": self._error,
            "conversation": self._conversation,
            "personality_response": self._personality,
            "question_style_variation": self._question_style,
            "english_pattern": self._english_pattern,
            "project_management": self._project,
            "banking_scenario": self._banking,
            "metrics_explanation": self._metric,
        }

    def respond(self, item: WorkItem) -> str:
        """The answer to ``item``, built only from the vocabulary. ``KeyError`` when the item's
        type, term or template is not in this vocabulary."""
        try:
            return self._dispatch[item.type](item)
        except (KeyError, ValueError, AttributeError, IndexError) as exc:
            raise KeyError(
                f"no static answer for {item.type} item {item.key} (term {item.term!r}, "
                f"template {item.template_id!r}): not from this vocabulary ({exc})"
            ) from None

    # -- technical terms
    def _field(self, term: Term, angle: str) -> str:
        return _s(str(getattr(term, angle)))

    def _tech_angle(self, term: Term, angle: str) -> str:
        own, nxt = (self._field(term, a) for a in TECH_PAIRS[angle])
        label = term.label
        if angle == "definition":
            return (
                f"{own} In day-to-day operations, the health of {label} shows up like this: {nxt}"
            )
        if angle == "monitoring":
            return f"{own} When those signals turn bad, work through it this way: {nxt}"
        if angle == "troubleshooting":
            return f"{own} Do not let it linger. {nxt}"
        return f"{own} As background, this is what {label} is. {nxt}"

    def _related(self, category: str, term: Term) -> str:
        cat = self._vocab.technical_terms.categories[category]
        others = neighbour_terms(self._vocab, category, term)
        links = " ".join(f"{o.label}: {_first(o.definition)}" for o in others)
        return (
            f"{term.label} belongs to {cat.title.lower()}. {_s(cat.description)} It works "
            f"alongside these neighbours. {links} When {term.label} misbehaves, look at them as "
            "well, because one fault often shows up in several places at once."
        )

    def _neighbours(self, category: str, term: Term, angle: str) -> str:
        others = neighbour_terms(self._vocab, category, term)
        lines = "\n".join(f"- {o.label}: {_first(getattr(o, angle))}" for o in others)
        return f"Compared with its neighbours:\n{lines}"

    def _technical(self, item: WorkItem) -> str:
        category, term = self._terms[item.term]
        if item.template_id == "related":
            return self._related(category, term)
        return self._tech_angle(term, item.template_id or "definition")

    def _personality(self, item: WorkItem) -> str:
        person = self._people[item.category]
        angle = item.template_id.rsplit(".", 1)[-1]
        _, term = self._terms[item.term]
        nxt = _first(self._field(term, TECH_PAIRS[angle][1]))
        return f"{_s(person.opening)} {self._field(term, angle)} {nxt} {_s(person.closing)}"

    def _question_style(self, item: WorkItem) -> str:
        style = self._styles[item.category]
        k = int(item.template_id.rsplit(".", 1)[-1])
        angle = style.templates[k].angle
        category, term = self._terms[item.term]
        title = self._vocab.technical_terms.categories[category].title
        main = self._field(term, angle)
        second = self._field(term, self._seconds[(style.name, k)])
        label = term.label
        fmt = style.answer_format
        if fmt == "brief":
            return f"{main} {_first(second)} That is the short answer; the runbook has the rest."
        if fmt == "detailed":
            cat = self._vocab.technical_terms.categories[category]
            return (
                f"{main}\n\n{second}\n\nFor context, {label} belongs to {title}. {cat.description}"
            )
        if fmt == "steps":
            steps = [*_clauses(main), _first(second)]
            return f"Here is the procedure for {label}, step by step:\n{_numbered(steps)}"
        if fmt == "checklist":
            items = [*_clauses(main), *_clauses(second)]
            lines = "\n".join(f"- {_s(x)}" for x in items)
            return f"Checklist for {label}:\n{lines}\nTick each item off in the ticket as you go."
        if fmt == "comparison":
            return f"{main} {self._neighbours(category, term, angle)}"
        if fmt == "executive":
            extra = _first(second) if angle == "impact" else _first(main)
            return (
                f"In business terms: {self._field(term, 'impact')} {extra} The decision for "
                "management is usually whether to fund the fix now or to accept the risk for a "
                "defined period."
            )
        if fmt == "example":
            return (
                f"Here is a concrete example for {label}. {main} A typical next move in the "
                f"same situation: {second}"
            )
        if fmt == "beginner":
            return (
                f"Put simply, {label} is one part of {title.lower()}. {main} {_first(second)} "
                "Learn what normal looks like first."
            )
        if fmt == "expert":
            return (
                f"{main} {second} One catch: thresholds that were right last year drift as load "
                "grows, so re-check them after every capacity change."
            )
        return (
            f"Picture it: it is the middle of the night batch window and {label} starts to "
            f"fail. {self._field(term, 'impact')} {main if angle != 'impact' else second}"
        )

    def _english_pattern(self, item: WorkItem) -> str:
        pattern = self._english[item.category]
        k = int(item.template_id.rsplit(".", 1)[-1])
        _, term = self._terms[item.term]
        main = self._field(term, pattern.focus)
        shift = 1 + (self._english_index[pattern.name] + k) % (len(ANGLES) - 1)
        second = self._field(term, ANGLES[(ANGLES.index(pattern.focus) + shift) % len(ANGLES)])
        opening = _s(pattern.reply_opening)
        tone = pattern.tone
        if tone == "terse":
            return f"{opening}\n" + "\n".join(
                f"- {_s(x)}" for x in [*_clauses(main), _first(second)]
            )
        if tone == "formal":
            return f"{opening} {main} In addition, please note the following. {second}"
        if tone == "casual":
            return f"{opening} {main} Quick tip: {_first(second)}"
        if tone == "hedged":
            return f"{opening} It depends on the situation, but in general: {main} {_first(second)}"
        if tone == "urgent":
            return f"{opening} {main} Once things are stable: {_first(second)}"
        return f"{opening} {main} {second}"

    # -- other vocabularies
    def _error(self, item: WorkItem) -> str:
        p = self._errors[item.term]
        tid = item.template_id
        if tid == "diagnosis":
            return (
                f"To diagnose {p.label}, work through these checks in order:\n"
                f"{_numbered(p.diagnosis)}\nRecord each finding in the incident ticket so the "
                "timeline stays complete."
            )
        if tid == "resolution":
            return (
                f"To fix it:\n{_numbered(p.resolution)}\nAfterwards, confirm that the error has "
                "stopped in the logs and that the service's error rate is back to normal."
            )
        if tid == "prevention":
            return (
                f"{_s(p.prevention)} It tends to come back when the underlying cause stays in "
                f"place, most often this one: {_s(p.causes[0])}"
            )
        if tid == "triage":
            return (
                f"{_URGENCY[p.severity]} First check: {_s(p.diagnosis[0])} First action once "
                f"the cause is confirmed: {_s(p.resolution[0])}"
            )
        return f"{_s(p.meaning)} The likely causes, most common first:\n{_numbered(p.causes)}"

    def _conversation(self, item: WorkItem) -> str:
        c = self._talks[item.term]
        if item.template_id == "next":
            return (
                f"{_s(c.answer[0])} If that does not settle it: {_s(c.follow_up)} Note what you "
                "have ruled out in the channel, so nobody repeats the same checks."
            )
        if item.template_id == "stakeholder":
            return (
                "For the managers, keep it short and factual, for example: "
                f'"{_s(c.stakeholder_note)}" Behind that message, the technical picture is this. '
                f"{_s(c.context)} {_s(c.answer[-1])}"
            )
        return "\n\n".join(_s(a) for a in c.answer)

    def _chain(self, entry: Any, fields: tuple[str, ...], index: int, links: tuple[str, ...],
               closers: tuple[str, ...]) -> str:  # fmt: skip
        own = _s(getattr(entry, fields[index]))
        nxt = _s(getattr(entry, fields[(index + 1) % len(fields)]))
        return f"{own} {links[index]} {nxt} {closers[index].format(label=entry.label)}"

    def _project(self, item: WorkItem) -> str:
        links = ("For an operations team:", "A concrete case:", "What to watch out for:",
                 "Done well, it serves its purpose:")  # fmt: skip
        closers = (
            "That is the working meaning of {label} in the team's Jira and Confluence.",
            "Teams that do this consistently get the value of {label} with little overhead.",
            "Review how {label} works for the team at each retrospective and adjust it.",
            "Keep {label} light enough that people actually follow it under pressure.",
        )
        index = [t for t, _ in PM_TEMPLATES].index(item.template_id)
        return self._chain(self._pm[item.term], PM_FIELDS, index, links, closers)

    def _banking(self, item: WorkItem) -> str:
        links = ("For the operations team, that means:", "The evidence expected:",
                 "A realistic scenario:", "The rule behind it:")  # fmt: skip
        closers = (
            "In short, {label} shapes how changes, incidents and evidence are run in production.",
            "Keep that evidence as a by-product of normal work, not rebuilt before audits.",
            "Situations like this are why {label} belongs in runbooks and incident reviews.",
            "The message for the board: {label} protects customers and the licence to operate.",
        )
        index = [t for t, _ in BANKING_TEMPLATES].index(item.template_id)
        return self._chain(self._bank[item.term], BANK_FIELDS, index, links, closers)

    def _metric(self, item: WorkItem) -> str:
        mp = self._vocab.metrics_patterns
        tid = item.template_id
        if item.category == "anomaly":
            a = mp.anomalies[item.term]
            name = a.label.lower()
            if tid == "causes":
                return (
                    f"The usual causes of a {name}, most common first:\n{_numbered(a.causes)}\n"
                    "Confirm which one applies with the metrics and the logs before acting."
                )
            if tid == "first_checks":
                return (
                    f"Check these first:\n{_numbered(a.first_checks)}\nIf the checks do not "
                    f"confirm a {name}, record the alert as a possible false positive so the "
                    "anomaly model can be improved."
                )
            if tid == "impact":
                return (
                    f"{_s(a.impact)} The usual cause behind it: {_s(a.causes[0])} Acting while it "
                    "is still a warning costs far less than recovering from the failure."
                )
            labels = ", ".join(mp.metrics[m].label for m in a.metrics)
            return (
                f"{_s(a.signature)} The metrics to look at are {labels}. Compare them with the "
                "same hour on previous days, so the daily cycle is not mistaken for the anomaly."
            )
        m = mp.metrics[item.term]
        low, high = m.normal_range
        if tid == "thresholds":
            side = "above" if m.higher_is_worse else "below"
            return (
                f"Raise a warning when {m.label} stays {side} {_num(m.warning)} ({m.unit}) for "
                f"several minutes, and treat it as critical {side} {_num(m.critical)}. To read "
                f"it: {_s(m.query)} Tune the thresholds per host group once a few weeks of "
                "history are available."
            )
        if tid == "correlations":
            others = [mp.metrics[c] for c in m.correlations]
            if others:
                names = ", ".join(o.label for o in others)
                links = " ".join(f"{o.label}: {_s(o.description)}" for o in others)
                lead = f"{m.label} usually moves with {names}. {links}"
            else:
                lead = (
                    f"{m.label} usually moves on its own rather than with the host metrics, so "
                    "read it against its own history."
                )
            return f"{lead} {' '.join(_s(p) for p in m.patterns[1:] or m.patterns)}"
        return (
            f"{m.label} measures this: {_s(m.description)} It is expressed in {m.unit}, and its "
            f"normal range is {_num(low)} to {_num(high)}. {_s(m.patterns[0])}"
        )
