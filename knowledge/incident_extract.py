"""The extractive rules of an incident summary (no LLM): actions and who did them, impact,
the root cause, open questions and follow-ups with owners, services and hosts named, the
timeline, the title, and ``extract``, which puts them together into an ``IncidentSummary``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from knowledge.incident_model import (
    MAX_ACTIONS,
    MAX_IMPACT,
    MAX_QUESTIONS,
    MAX_TIMELINE,
    Event,
    IncidentError,
    IncidentSummary,
    Msg,
    Question,
    ThreadLike,
    clip,
    incident_id,
)
from knowledge.redaction import Redactor

ANSWER_WINDOW = timedelta(minutes=15)
"""A question counts as answered when someone else replies within this long with a shared
content word, or with a yes or no before another question is asked."""
OWN_SUMMARY = "Incident summary:"
"""How Vigil's own summaries start: an earlier one in the thread is not summarised again."""
_MENTION = re.compile(r"<@!?(\w+)(\|[^>]*)?>")

_VERBS: tuple[tuple[str, str, str], ...] = (
    # (past form(s), progressive form, how the action is written)
    (r"rolled back|reverted", r"rolling back|reverting", "rolled back"),
    (r"restarted|rebooted|bounced", r"restarting|rebooting|bouncing", "restarted"),
    (r"scaled(?: up| down| out)?", r"scaling(?: up| down| out)?", "scaled"),
    (r"failed over", r"failing over", "failed over"),
    (r"drained", r"draining", "drained"),
    (r"increased|raised|bumped", r"increasing|raising|bumping", "increased"),
    (r"decreased|lowered|reduced", r"decreasing|lowering|reducing", "decreased"),
    (r"deployed|redeployed|hotfixed|shipped", r"deploying|redeploying|hotfixing", "deployed"),
    (r"disabled|turned off", r"disabling", "disabled"),
    (r"enabled|turned on", r"enabling", "enabled"),
    (r"flushed|purged|cleared", r"flushing|purging|clearing", "flushed"),
    (r"killed|terminated", r"killing|terminating", "killed"),
    (r"paged|escalated to", r"paging", "paged"),
)
_ACTION = re.compile(
    r"\b(?:(?P<past>"
    + "|".join(p for p, _, _ in _VERBS)
    + r")|(?P<prog>"
    + "|".join(g for _, g, _ in _VERBS)
    + r"))\b(?P<object>(?:[^.;!?\n]|\.(?=\w)){0,90})",
    re.I,
)
_NOT_DONE = re.compile(
    r"\b(should|could|would|can we|can you|shall|let'?s|if we|if you|don'?t|didn'?t|not|"
    r"never|nothing|nobody|no one|will|won'?t|going to|need to|needs to|want to|before we|"
    r"whether|was it|is it|maybe|might)\b",
    re.I,
)
_CAUSE = (
    (re.compile(r"\broot[- ]?cause\b", re.I), 3.0),
    (re.compile(r"\bturned out\b|\bthe culprit\b|\bculprit was\b", re.I), 3.0),
    (re.compile(r"\bcaused by\b|\bwas caused\b|\btriggered by\b", re.I), 2.0),
    (re.compile(r"\bbecause\b|\bdue to\b", re.I), 1.0),
)
_HEDGE = re.compile(r"\b(maybe|might|perhaps|not sure|i think|possibly|could be|guess)\b", re.I)
_CONFIRM = re.compile(
    r"^\s*(\+1|confirmed|confirm|agreed|agree|yes|yep|correct|exactly|that'?s it)\b", re.I
)
_IMPACT_TERMS = re.compile(
    r"\b(impact|customers?|users?|checkouts?|orders?|requests?|errors?|error rate|5xx|"
    r"latency|p9\d|timeouts?|failed|failing|failures?|down|outage|unavailable)\b",
    re.I,
)
_WHO_HURT = re.compile(r"\b(customers?|users?|checkouts?|orders?)\b", re.I)
_FAILED = re.compile(r"\b(failed|failing|failures?|down|outage)\b", re.I)
_NUMBER = re.compile(r"~?\d+(?:\.\d+)?\s*(?:%|ms\b|s\b|min\b|minutes\b|k\b)", re.I)
_RECOVERED = re.compile(
    r"\b(mitigated|resolved|recovered|back to normal|all clear|fully recovered|"
    r"is back up|going through again)\b",
    re.I,
)
_RECOVERING = re.compile(r"\b(recovering|improving|falling)\b", re.I)
_DETECT = re.compile(
    r"\b(paged|alerted|alerting|alerts? (?:fired|firing)|firing|pagerduty|opsgenie)\b", re.I
)
_CHANGE = re.compile(
    r"\b(deploy(?:ed|ment)?|release[ds]?|pushed|rollout|config (?:change|push))\b", re.I
)
_CLOSE = re.compile(r"\b(closing (?:the )?incident|incident (?:is )?closed|declaring)\b", re.I)
_FOLLOW = re.compile(
    r"\b(todo|follow[- ]?up|action item|need to|needs to|we should)\b|\bpostmortem\b.*\bby\b",
    re.I,
)
_OWNER = re.compile(r"(?:^|\s)@?(?P<name>[A-Za-z][\w.-]*)\s+(?:will|to|is going to)\s+\w", re.I)
_LATER = re.compile(
    r"\b(after|tomorrow|later|next week|by (?:mon|tue|wed|thu|fri|eod|end)\w*|once|tonight)\b",
    re.I,
)
_SELF_WILL = re.compile(r"\b(i'?ll|i will|i'm going to)\b", re.I)
_ASKED = re.compile(r"@?(?P<name>[A-Za-z][\w.-]*),?\s+(?:can|could|would) you\b", re.I)
_LOG_LINE = re.compile(r"\b(ERROR|WARN|FATAL|Exception|HikariPool|timed out after)\b")
_STOP_WORDS = (
    "the a an and or but is are was were be been to of in on for at by with from it this that "
    "we you i they he she do does did have has had not no yes any anyone anything what why how "
    "who when where which can could would should will still now just our your their there here "
    "know need about after before into over than then them its also some more less much very"
)
_STOP = frozenset(_STOP_WORDS.split(" "))
_YES_NO = re.compile(r"\s*(yes|no|yep|nope|yeah|nah)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z@\d\"'])|\n+")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _stems(text: str) -> set[str]:
    words = re.findall(r"[a-z][a-z0-9]{2,}", text.lower())
    return {w[:5] for w in words if w not in _STOP}


def is_own_summary(user: str, text: str) -> bool:
    """A summary Vigil posted earlier in the thread."""
    return user.strip().lower() == "vigil" and text.lstrip().startswith(OWN_SUMMARY)


def prepare(messages: Iterable[ThreadLike], redactor: Redactor) -> list[Msg]:
    """The messages redacted, in UTC, oldest first; empty ones and Vigil's earlier summaries
    dropped; platform mentions (``<@U0MARIA>``, ``<@!123|maria>``) written ``@U0MARIA``."""
    out = []
    for m in messages:
        if is_own_summary(m.user or "", m.text or ""):
            continue
        ts = m.ts if m.ts.tzinfo else m.ts.replace(tzinfo=UTC)
        text = redactor.redact(_MENTION.sub(r"@\1", m.text or "")).strip()
        if text:
            out.append(Msg(redactor.redact(m.user or "unknown"), ts.astimezone(UTC), text))
    out.sort(key=lambda m: m.ts)
    return out


def actions(msgs: Sequence[Msg], participants: set[str]) -> list[Event]:
    """What was done, by whom and when, from action verbs in the past tense (or in progress);
    plans, questions and negations are left out, and an action in progress that is reported
    done later by the same person counts once."""
    found: list[tuple[Event, bool, str]] = []
    for m in msgs:
        for sentence in _sentences(m.text):
            if sentence.rstrip().endswith("?"):
                continue
            for match in _ACTION.finditer(sentence):
                before = sentence[: match.start()]
                if _NOT_DONE.search(before[-40:]):
                    continue
                verb = (match.group("past") or match.group("prog")).lower()
                obj = _object(match.group("object"))
                if verb.startswith("pag") and re.match(r"(me|us)\b", obj):
                    continue  # "PagerDuty paged me": a detection, not an action
                if re.match(r"(my|our local)\b", obj, re.I):
                    continue  # "restarted my port-forward": not done to the system
                kind = next(k for p, g, k in _VERBS if re.fullmatch(p + "|" + g, verb))
                who = _subject(before, m.user, participants)
                what = f"{match.group('past') or match.group('prog')} {obj}".strip().lower()
                found.append((Event(m.ts, who, clip(what, 100)), bool(match.group("prog")), kind))
    out: list[Event] = []
    for i, (event, progressive, kind) in enumerate(found):
        done_later = any(
            later.who == event.who and k == kind and not p and later.at - event.at < _QUARTER
            for later, p, k in found[i + 1 :]
        )
        repeated = any(e.who == event.who and _gist(e.what) == _gist(event.what) for e in out)
        if not (progressive and done_later) and not repeated:
            out.append(event)
    return out[:MAX_ACTIONS]


_QUARTER = timedelta(minutes=15)


def _gist(text: str) -> str:
    """An action without its numbers and punctuation: the same action said twice matches."""
    return " ".join(re.sub(r"[\d\W_]+", " ", text.lower()).split())


def _object(text: str) -> str:
    text = re.split(r",|\s[-–—]\s|\bbut\b|\band then\b", text)[0]
    return " ".join(text.split()[:10]).strip(" :")


def _subject(before: str, poster: str, participants: set[str]) -> str:
    """Who did it: a participant named right before the verb ("bob restarted"), else the
    poster ("I restarted", "restarted payments-2")."""
    words = re.findall(r"@?[\w.-]+", before)[-3:]
    for word in reversed(words):
        name = word.lstrip("@")
        if name.lower() in participants and name.lower() != poster.lower():
            return name
    return poster


def root_cause(msgs: Sequence[Msg]) -> tuple[str, Event | None]:
    """The best root-cause statement: the strongest cue, not hedged, confirmed by someone else
    right after, later in the thread rather than earlier."""
    best: tuple[float, str, Event] | None = None
    n = max(1, len(msgs))
    for i, m in enumerate(msgs):
        for sentence in _sentences(m.text):
            strength = max((w for pattern, w in _CAUSE if pattern.search(sentence)), default=0.0)
            if not strength:
                continue
            score = strength + i / n + (1.0 if len(sentence) >= 60 else 0.0)
            if sentence.rstrip().endswith("?"):
                score -= 3
            if _HEDGE.search(sentence):
                score -= 2
            if re.search(r"\bconfirm", sentence, re.I):
                score += 1
            if any(o.user != m.user and _CONFIRM.match(o.text) for o in msgs[i + 1 : i + 4]):
                score += 1.5
            if best is None or score >= best[0]:
                text = re.sub(r"^(the\s+)?root[- ]?cause(\s+(is|was))?\s*[:\-–—]?\s*", "", sentence,
                              flags=re.I)  # fmt: skip
                best = (score, clip(text, 300), Event(m.ts, m.user, clip(sentence, 100)))
    if best is None or best[0] <= 0:
        return "", None
    text = best[1][:1].upper() + best[1][1:]
    return text, best[2]


def impact(msgs: Sequence[Msg]) -> list[str]:
    """Sentences that quantify the impact (numbers, customers, failures), best first."""
    scored: list[tuple[float, int, str]] = []
    for i, m in enumerate(msgs):
        for sentence in _sentences(m.text):
            if not _IMPACT_TERMS.search(sentence) or sentence.rstrip().endswith("?"):
                continue
            if _RECOVERED.search(sentence) or re.search(r"\bback to\b", sentence, re.I):
                continue
            score = 0.0
            score += 3 if re.search(r"\bimpact\b", sentence, re.I) else 0
            score += 2 if _WHO_HURT.search(sentence) else 0
            score += 1.5 if _NUMBER.search(sentence) else 0
            score += 1 if _FAILED.search(sentence) else 0
            if score >= 2:
                scored.append((score + i / (10 * len(msgs)), i, clip(sentence)))
    scored.sort(key=lambda s: -s[0])
    return list(dict.fromkeys(s[2] for s in scored))[:MAX_IMPACT]


def open_questions(msgs: Sequence[Msg], participants: set[str]) -> list[Question]:
    """Questions nobody answered, and follow-ups ("TODO", "@maria will ...", "dan to ...")
    with their owners."""
    out: list[Question] = []
    stamps = [m.ts for m in msgs]
    stems: list[set[str] | None] = [None] * len(msgs)

    def stems_of(j: int) -> set[str]:
        known = stems[j]
        if known is None:
            known = stems[j] = _stems(msgs[j].text)
        return known

    for i, m in enumerate(msgs):
        for sentence in _sentences(m.text):
            if sentence.rstrip().endswith("?"):
                until = bisect_right(stamps, m.ts + ANSWER_WINDOW)
                if _answered(sentence, m, msgs, range(i + 1, until), stems_of):
                    continue
                asked = _ASKED.search(sentence)
                owner = asked.group("name") if asked else None
                if owner and owner.lower() not in participants:
                    owner = None
                out.append(Question(clip(sentence), owner))
                continue
            item = _follow_up(sentence, m.user, participants)
            if item is not None:
                out.append(item)
    seen: set[str] = set()
    unique = []
    for q in out:
        key = q.text.lower()
        if key not in seen:
            seen.add(key)
            unique.append(q)
    return unique[-MAX_QUESTIONS:]


def _answered(
    question: str,
    asker: Msg,
    msgs: Sequence[Msg],
    after: range,
    stems_of: Callable[[int], set[str]],
) -> bool:
    """Someone else replied (in ``after``, the messages within ``ANSWER_WINDOW``) with a shared
    content word, or with a yes or no before anyone asked another question."""
    stems = _stems(question)
    yes_no = True
    for j in after:
        m = msgs[j]
        if m.user != asker.user:
            if yes_no and _YES_NO.match(m.text):
                return True
            if stems & stems_of(j):
                return True
        if m.text.rstrip().endswith("?"):
            yes_no = False
    return False


def _follow_up(sentence: str, poster: str, participants: set[str]) -> Question | None:
    owner_match = _OWNER.search(sentence)
    owner = owner_match.group("name") if owner_match else None
    if owner is not None and owner.lower() not in participants:
        owner = None
    if owner is not None:
        return Question(clip(sentence), owner)
    if _SELF_WILL.search(sentence) and _LATER.search(sentence):
        return Question(clip(sentence), poster)
    if _FOLLOW.search(sentence):
        return Question(clip(sentence), None)
    return None


def names_in(msgs: Sequence[Msg], services: Iterable[str], hosts: Iterable[str]) -> tuple[
    list[str], list[str]
]:  # fmt: skip
    """Services and hosts the thread mentions, most mentioned first."""
    text = "\n".join(m.text.lower() for m in msgs)
    host_counts = {h: _count(text, h) for h in hosts}
    named_hosts = sorted((h for h, c in host_counts.items() if c), key=lambda h: -host_counts[h])
    counts = {s: _count(text, s) + _count(text, s + "s") for s in services}
    for host in named_hosts:  # payments-2 speaks of payments
        for service in counts:
            if host.lower().startswith(service.lower() + "-"):
                counts[service] += host_counts[host]
    named = sorted((s for s, c in counts.items() if c), key=lambda s: (-counts[s], s))
    return named, named_hosts


def _count(text: str, name: str) -> int:
    return len(re.findall(rf"(?<![\w-]){re.escape(name.lower())}(?![\w]|-\d)", text))


def timeline(
    msgs: Sequence[Msg],
    acts: Sequence[Event],
    cause: Event | None,
    impact_lines: Sequence[str],
) -> list[Event]:
    """The key moments: first report, detection, changes, impact, actions, the cause, recovery
    and closing, most important kept when there are too many, in time order."""
    picked: dict[tuple[datetime, str], tuple[int, Event]] = {}

    def add(priority: int, event: Event) -> None:
        key = (event.at, event.who)
        if key not in picked or picked[key][0] < priority:
            picked[key] = (priority, event)

    impact_set = set(impact_lines)
    for i, m in enumerate(msgs):
        for sentence in _sentences(m.text):
            what = clip(sentence, 100)
            if i == 0:
                add(9, Event(m.ts, m.user, what))
            elif _RECOVERED.search(sentence) or _CLOSE.search(sentence):
                add(7, Event(m.ts, m.user, what))
            elif _DETECT.search(sentence) and not sentence.endswith("?"):
                add(6, Event(m.ts, m.user, what))
            elif clip(sentence) in impact_set:
                add(5, Event(m.ts, m.user, what))
            elif _CHANGE.search(sentence) and not sentence.endswith("?"):
                add(4, Event(m.ts, m.user, what))
            elif _RECOVERING.search(sentence):
                add(3, Event(m.ts, m.user, what))
    for act in acts:
        add(8, act)
    if cause is not None:
        add(8, cause)
    ranked = sorted(picked.values(), key=lambda pe: (-pe[0], pe[1].at))[:MAX_TIMELINE]
    return sorted((e for _, e in ranked), key=lambda e: e.at)


def end_time(msgs: Sequence[Msg]) -> datetime:
    """When it was over: the last message that says it recovered, else the last message."""
    recovered = [m.ts for m in msgs if _RECOVERED.search(m.text)]
    return recovered[-1] if recovered else msgs[-1].ts


def title_of(services: Sequence[str], impact_lines: Sequence[str], cause: str, text: str) -> str:
    """``payments: latency and errors (connection pool exhaustion)``."""
    lowered = text.lower()
    symptoms = [
        word
        for word, pattern in (
            ("latency", r"\b(latency|slow|p9\d)\b"),
            ("errors", r"\b(errors?|error rate|5xx|failed|failing)\b"),
            ("outage", r"\b(down|outage|unavailable)\b"),
        )
        if re.search(pattern, lowered)
    ]
    causes = (
        ("connection pool exhaustion", r"\b(connection )?pool\b"),
        ("memory leak", r"\bmemory leak|\bheap\b|\boom\b"),
        ("GC pressure", r"\bgc\b|garbage collect"),
        ("full disk", r"\bdisk (?:is )?full\b|\bno space\b"),
        ("network congestion", r"\bpacket loss|\bnetwork\b|\bswitch\b"),
        ("CPU saturation", r"\bcpu\b"),
        ("bad deploy", r"\bdeploy|\brelease\b"),
    )
    label = next((name for name, pattern in causes if re.search(pattern, cause.lower())), "")
    head = services[0] if services else "incident"
    body = " and ".join(symptoms[:2]) or "incident"
    return f"{head}: {body}" + (f" ({label})" if label else "")


def extract(
    messages: Sequence[ThreadLike],
    redactor: Redactor,
    *,
    channel: str = "",
    services: Iterable[str] = (),
    hosts: Iterable[str] = (),
) -> IncidentSummary:
    """The extractive summary of a thread (no evidence yet)."""
    msgs = prepare(messages, redactor)
    if not msgs:
        raise IncidentError("the thread has no messages with text to summarise")
    participants = list(dict.fromkeys(m.user for m in msgs))
    people = {p.lower() for p in participants}
    acts = actions(msgs, people)
    cause, cause_by = root_cause(msgs)
    impact_lines = impact(msgs)
    named_services, named_hosts = names_in(msgs, services, hosts)
    all_text = "\n".join(m.text for m in msgs)
    return IncidentSummary(
        id=incident_id(channel, msgs[0]),
        title=title_of(named_services, impact_lines, cause, all_text),
        services=named_services[:3],
        hosts=named_hosts[:4],
        start=msgs[0].ts,
        end=end_time(msgs),
        impact=impact_lines,
        timeline=timeline(msgs, acts, cause_by, impact_lines),
        root_cause=cause,
        root_cause_by=cause_by,
        actions=acts,
        questions=open_questions(msgs, people),
        participants=participants,
        messages=len(msgs),
        channel=channel,
        log_lines=[clip(s, 240) for m in msgs for s in _sentences(m.text) if _LOG_LINE.search(s)][
            :5
        ],
    )
