"""The staged LLM path of an incident summary: messages packed into chunks within the
context budget -> notes -> (merged notes) -> a JSON summary, parsed, and merged into the
extractive summary where its fields are well formed (the rest fall back)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from knowledge.errors import ProviderError
from knowledge.evidence import Evidence
from knowledge.incident_model import (
    MAX_ACTIONS,
    MAX_IMPACT,
    MAX_QUESTIONS,
    MAX_TIMELINE,
    Event,
    IncidentSummary,
    Msg,
    Question,
    clip,
)
from knowledge.llm.base import Message, Provider, estimate_tokens
from knowledge.redaction import Redactor

LINE_CHARS = 500
MAX_ROUNDS = 6
MAX_CALLS = 24
"""At most this many LLM calls for one summary; a thread that needs more stays extractive."""
DEADLINE_S = 120.0
"""All the calls of one summary together within this many seconds."""
_CONTENT_FREE = re.compile(
    r"^[\W_]*(?:(?:\+1|ok(?:ay)?|k|ack|thanks?(?: you)?|thx|ty|lgtm|nice|cool|great|same|"
    r":[\w+-]+:)[\W_]*)*$",
    re.I,
)


class LLMBudgetExceeded(ProviderError):
    """The staged summary would need more calls, or more time, than it may use."""


def content_free(text: str) -> bool:
    """``+1``, ``ok``, ``thanks``, emoji only: nothing for the LLM to summarise."""
    return bool(_CONTENT_FREE.match(text.strip()))


NOTES_SYSTEM = (
    "You take notes on an incident discussed in a chat thread. From the messages (part {part} "
    "of {parts}), write terse notes only from what they say: timeline events with HH:MM and "
    "who; impact numbers; suspected causes and who said them; actions taken (HH:MM, who, what); "
    "open questions and follow-ups with owners. At most {words} words."
)
MERGE_SYSTEM = (
    "Merge these notes on one incident into one set of notes, keeping times, names, numbers, "
    "actions and open questions. At most {words} words."
)
FINAL_SYSTEM = (
    "Summarise the incident from the notes or messages below. Reply with JSON only, no prose: "
    '{"title": str, "impact": [str], "timeline": [{"time": "HH:MM", "who": str, "what": str}], '
    '"root_cause": str, "actions": [{"time": "HH:MM", "who": str, "action": str}], '
    '"open_questions": [{"question": str, "owner": str|null}]}. Use only what the input says; '
    "times are UTC."
)


@dataclass
class StagedLLM:
    """Runs the staged summary against ``provider`` with every prompt within ``max_tokens``."""

    provider: Provider
    model: str
    max_tokens: int
    temperature: float = 0.1
    timeout_s: float = 30.0
    max_calls: int = MAX_CALLS
    deadline_s: float = DEADLINE_S
    calls: int = 0
    largest_prompt: int = 0
    _deadline: float | None = field(default=None, init=False, repr=False)

    def _complete(self, system: str, user: str) -> str:
        if self.calls >= self.max_calls:
            raise LLMBudgetExceeded(f"the summary needs more than {self.max_calls} LLM calls")
        left = self._time_left()
        tokens = prompt_tokens(system, user)
        if tokens > self.max_tokens:  # never send more than the budget: cut the user part
            keep = max(0, (self.max_tokens - prompt_tokens(system, "")) * 3 - 3)
            user = user[:keep]
            tokens = prompt_tokens(system, user)
        self.calls += 1
        self.largest_prompt = max(self.largest_prompt, tokens)
        completion = self.provider.complete(
            [Message("system", system), Message("user", user)],
            self.model,
            temperature=self.temperature,
            timeout_s=min(self.timeout_s, left),
        )
        if not completion.text.strip():
            raise ProviderError(f"{self.provider.name} returned an empty answer")
        return completion.text.strip()

    def _time_left(self) -> float:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.deadline_s
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise LLMBudgetExceeded(f"the LLM calls took over {self.deadline_s:g} s")
        return left

    def room(self, system: str) -> int:
        """Characters of user text that fit beside ``system``."""
        return max(60, (self.max_tokens - prompt_tokens(system, "") - 8) * 3)

    def summarise(self, msgs: Sequence[Msg], evidence: Sequence[Evidence]) -> dict[str, Any]:
        """The LLM's JSON summary of ``msgs`` (content-free lines left out), in stages when
        they do not fit one prompt; ``LLMBudgetExceeded`` past ``max_calls`` or the deadline
        (checked before a call is sent, so a thread too long for the cap costs nothing)."""
        self._deadline = time.monotonic() + self.deadline_s
        lines = [
            f"[{m.ts:%H:%M}] {m.user}: {clip(m.text, LINE_CHARS)}"
            for m in msgs
            if not content_free(m.text)
        ]
        cited = "\n".join(f"[{n}] {e.label}" for n, e in enumerate(evidence, start=1))
        tail = f"\n\nEvidence from the knowledge store:\n{cited}" if cited else ""
        final_room = self.room(FINAL_SYSTEM) - len(tail) - 20
        body = "\n".join(lines)
        if len(body) > final_room:
            body = self._notes(lines, final_room)
            head = "Notes:\n"
        else:
            head = "Messages:\n"
        answer = self._complete(FINAL_SYSTEM, head + body + tail)
        return parse_json_answer(answer)

    def _notes(self, lines: list[str], final_room: int) -> str:
        probe = NOTES_SYSTEM.format(part=999, parts=999, words=9999)
        chunks = _pack(lines, self.room(probe) - 30)
        if len(chunks) + 1 > self.max_calls:
            raise LLMBudgetExceeded(
                f"the thread needs {len(chunks) + 1}+ LLM calls, over the cap of {self.max_calls}"
            )
        note_chars = max(200, final_room // max(2, min(len(chunks), 6)))
        notes = [
            self._complete(
                NOTES_SYSTEM.format(part=i, parts=len(chunks), words=note_chars // 7),
                "Messages:\n" + "\n".join(chunk),
            )[:note_chars]
            for i, chunk in enumerate(chunks, start=1)
        ]
        for _ in range(MAX_ROUNDS):
            if len("\n\n".join(notes)) <= final_room:
                break
            merge_room = self.room(MERGE_SYSTEM.format(words=9999)) - 20
            groups = _pack(notes, merge_room, separator=2)
            if len(groups) == len(notes):  # no two notes fit together: cut them
                notes = [n[: max(80, final_room // len(notes) - 2)] for n in notes]
                continue
            notes = [
                self._complete(
                    MERGE_SYSTEM.format(words=note_chars // 7), "Notes:\n" + "\n\n".join(g)
                )[:note_chars]
                for g in groups
            ]
        return "\n\n".join(notes)[:final_room]


def prompt_tokens(system: str, user: str) -> int:
    """Tokens of a two-message prompt, counted the way ``knowledge.prompting`` counts."""
    return estimate_tokens(system) + estimate_tokens(user) + 8


def _pack(items: Sequence[str], room: int, separator: int = 1) -> list[list[str]]:
    """Consecutive items in groups of at most ``room`` characters (an item longer than
    ``room`` is cut to fit)."""
    groups: list[list[str]] = []
    size = 0
    for item in items:
        item = item[:room]
        if groups and size + separator + len(item) <= room:
            groups[-1].append(item)
            size += separator + len(item)
        else:
            groups.append([item])
            size = len(item)
    return groups


def parse_json_answer(text: str) -> dict[str, Any]:
    """The JSON object in an LLM's answer (fenced or bare); ``{}`` when there is none."""
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        return {}
    try:
        value = json.loads(match.group(0))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def merge_llm(summary: IncidentSummary, data: dict[str, Any], redactor: Redactor) -> list[str]:
    """Put the LLM's fields into ``summary`` where they are well formed; returns the names of
    the fields that fell back to the extractive ones."""
    redact = redactor.redact
    fell_back = []
    title = data.get("title")
    if isinstance(title, str) and title.strip():
        summary.title = clip(redact(title), 120)
    impact_lines = _strings(data.get("impact"))
    if impact_lines:
        summary.impact = [clip(redact(s)) for s in impact_lines][:MAX_IMPACT]
    else:
        fell_back.append("impact")
    cause = data.get("root_cause")
    if isinstance(cause, str) and cause.strip():
        summary.root_cause = clip(redact(cause), 300)
        summary.root_cause_by = None  # the LLM's wording: nobody in the thread said it so
    else:
        fell_back.append("root_cause")
    lists = (("timeline", "what", MAX_TIMELINE), ("actions", "action", MAX_ACTIONS))
    for key, attr, limit in lists:
        events = _events(data.get(key), attr, summary.start, redact)
        if events:
            setattr(summary, key, events[:limit])
        else:
            fell_back.append(key)
    raw = data.get("open_questions")
    if isinstance(raw, list) and all(isinstance(q, dict) for q in raw):
        summary.questions = [
            Question(clip(redact(str(q.get("question", "")))), _name(q.get("owner")))
            for q in raw
            if str(q.get("question", "")).strip()
        ][:MAX_QUESTIONS]
    else:
        fell_back.append("open_questions")
    return fell_back


def _strings(value: Any) -> list[str]:
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def _name(value: Any) -> str | None:
    return value.strip().lstrip("@") if isinstance(value, str) and value.strip() else None


def _events(value: Any, attr: str, start: datetime, redact: Any) -> list[Event]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if not isinstance(item, dict):
            return []
        at = _clock(str(item.get("time", "")), start)
        what = str(item.get(attr) or item.get("what") or "").strip()
        if at is None or not what:
            return []
        out.append(Event(at, redact(str(item.get("who") or "?")), clip(redact(what), 100)))
    return sorted(out, key=lambda e: e.at)


def _clock(text: str, start: datetime) -> datetime | None:
    """``HH:MM`` (or an ISO time) on the thread's day; a time well before the start is taken
    to be the next day (a thread past midnight)."""
    match = re.search(r"\b(\d{1,2}):(\d{2})\b", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        return None
    at = start.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0,
                       microsecond=0)  # fmt: skip
    return at + timedelta(days=1) if at < start - timedelta(hours=2) else at
