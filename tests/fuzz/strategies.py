"""Hypothesis strategies shared by the fuzz tests: what people type (commands, Slack markup,
unicode, control characters, very long text) and JSON of any shape; and the check that nothing
a user sees carries a Python traceback or an exception's class name."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # no "explain" phase: it traces every line run, slowing a failing CLI example tenfold
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)

COMMANDS = (
    "ask", "status", "anomalies", "anomaly", "explain", "alerts", "ack", "acknowledge",
    "resolve", "mute", "unmute", "digest", "summarize", "summarise", "incidents", "help", "?",
    "commands", "why", "what", "how", "is", "show", "vigil:", "@vigil", "/vigil",
)  # fmt: skip
ARGS = (
    "payments", "checkout", "payments-2", "payments/*", "payments/payments-2:memory_leak",
    "*", "**", "[", "a-1", "a-0", "a-99999999999999999999", "-1", "0", "1h", "30m", "-5m",
    "0s", "99999999d", "99999999999999d", "1e308s", "nan", "inf", "1.5h", "h", "latency", "cpu",
    "error_rate",
    "2026-11-20", "2026-13-45", "yesterday", "last hour", "since 14:00", "at 25:61",
    "between 10:05 and 10:20", "on Monday", "?", "--json", "'", '"', "\\", "`", "```",
)  # fmt: skip
MARKUP = (
    "<@U0001>", "<@W111|bob>", "<@>", "<!channel>", "<!here>", "<!everyone>",
    "<!subteam^S123|@team>", "<#C0GENERAL|vigil>", "<#C123>", "<#>", "<http://example.com|x>",
    "<https://example.com>", "<mailto:a@b.org|a@b.org>", "<|>", "<>", "<", ">", "&lt;", "&gt;",
    "&amp;", "&lt", "&#60;", "*bold*", "_it_", "~s~", "`code`", "> quote", "\u00a0", "\u200b",
    "\u202e", "\ufeff", "\x00", "\r\n", "\t",
)  # fmt: skip

control = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), max_size=6)
word = st.one_of(
    st.sampled_from(COMMANDS), st.sampled_from(ARGS), st.sampled_from(MARKUP), st.text(max_size=12)
)
huge = st.integers(3_990, 4_010).map(lambda n: "why " + "é" * n)  # around max_input_chars
chat_text = st.one_of(
    st.lists(st.one_of(word, control), max_size=10).map(" ".join),
    st.lists(word, max_size=8).map("".join),
    st.text(max_size=120),
    huge,
    st.just("ask " + "x" * 20_000),
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

ABSENT = object()
"""A field value that leaves the field out (``optional``)."""


def optional(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is sometimes there (with a ``valid`` value), sometimes not."""
    return st.one_of(st.just(ABSENT), valid)


def obj(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object whose values are drawn from ``fields`` (strategies or constants); fields
    drawn as ``ABSENT`` are left out."""
    drawn = st.fixed_dictionaries(
        {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in fields.items()}
    )
    return drawn.map(lambda d: {k: v for k, v in d.items() if v is not ABSENT})


def _paths(value: Any, depth: int, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths into ``value`` down to ``depth`` levels (the first 8 items of a list)."""
    found: list[tuple[Any, ...]] = []
    if depth <= 0:
        return found
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = list(enumerate(value))[:8]
    else:
        items = ()
    for key, inner in items:
        found.append((*prefix, key))
        found.extend(_paths(inner, depth - 1, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any], max_depth: int = 8) -> Any:
    """A ``valid`` JSON-like value with up to two of its fields (``max_depth`` levels deep at
    most) left out, set to any JSON or joined by an unknown one: nearly right, so the code
    behind the checks it fails is still reached."""
    value = copy.deepcopy(draw(valid))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        paths = _paths(value, max_depth)
        if not paths:
            break
        *parent_path, key = draw(st.sampled_from(paths))
        parent = value
        for part in parent_path:
            parent = parent[part]
        how = draw(st.sampled_from(["drop", "junk", "junk", "add"]))
        if how == "drop":
            del parent[key]
        elif how == "junk":
            parent[key] = draw(json_value)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_value)
    return value


_NAME = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Interrupt|Exit|Warning)\b")


def _python_exceptions() -> set[str]:
    """The class names of every Python exception loaded (``OutOfMemoryError``, a Java one that
    runbooks name, is not among them)."""
    names: set[str] = set()
    todo: list[type[BaseException]] = [BaseException]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return {n for n in names if _NAME.fullmatch(n)}


def leaks(text: str, sent: str = "") -> list[str]:
    """What in ``text`` looks like Python's insides: a traceback, a file/line frame or a Python
    exception class name that the request itself (``sent``) did not contain."""
    known = _python_exceptions()
    found = [n for n in _NAME.findall(text) if n in known and n not in sent]
    if "Traceback" in text and "Traceback" not in sent:
        found.append("Traceback")
    if re.search(r'File "[^"]+\.py", line \d+', text):
        found.append("a stack frame")
    return found


def flat(value: Any) -> str:
    """Every string inside a JSON-like value, joined (what a check should search)."""
    if isinstance(value, dict):
        return "\n".join(flat(k) + "\n" + flat(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(flat(v) for v in value)
    return str(value)
