"""Runbooks and the team's domain notes as knowledge-store documents.

A runbook is a Markdown file, optionally opened by YAML front matter::

    ---
    service: payments          # a service name, or ``any`` (stored as "")
    tags: [database, hikaricp]
    metrics: [db_pool_usage, latency_p95_ms]
    ---
    # Payments DB pool exhaustion
    ## Mitigate
    ### Short term
    ...

``load_runbooks`` cuts every ``*.md`` under a folder into one ``Document`` per section (``#``,
``##`` and ``###`` headings; deeper headings stay in their section's body). A section's title is
its heading path, ``Payments DB pool exhaustion > Mitigate > Short term``; when a file has no
``#`` heading its name (``db-pool.md`` -> ``Db pool``) is the path's root.

- Lines inside fenced code blocks are never headings.
- A heading with no body emits nothing. Its sub-sections carry it in their path; an empty heading
  with no sub-sections is folded into the next heading as ``Empty / Next``.
- A section longer than ``max_chars`` is split between paragraphs, with fenced code blocks kept
  whole; a code block longer than a whole part is split between lines and re-fenced. A line is
  never cut, so only a single line longer than ``max_chars`` makes a part longer than that.
- Text, title and heading pass through ``redact`` before they reach a document. A part's
  ``line`` is exact unless a redaction above it in its section removed line breaks.

A file that is not UTF-8, cannot be read, or has malformed front matter (not a mapping, an unknown
key, a wrong type, never closed) raises ``ConfigError(key="runbook", source=path)``. With
``on_error="skip"`` the file is left out and the others still load; with a callable, the file is
left out and the callable gets the error (to log it, or to collect it for ``vigil doctor``).
A missing folder yields no documents: runbooks are optional. Hidden files and folders are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from knowledge.config import AnalysisConfig
from knowledge.documents import Document
from knowledge.errors import ConfigError

OnError = Literal["raise", "skip"] | Callable[[ConfigError], object]
FRONT_MATTER_KEYS = ("service", "tags", "metrics")
CHUNK_LEVELS = 3

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _identity(text: str) -> str:
    return text


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = _LINK.sub(r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def load_runbooks(
    folder: Path,
    redact: Callable[[str], str] = _identity,
    max_chars: int = 1500,
    on_error: OnError = "raise",
) -> list[Document]:
    """Every ``*.md`` under ``folder`` (recursive, in path order) as section documents.

    See the module docstring for the format, the chunking rules and ``on_error``.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive (got {max_chars})")
    if isinstance(on_error, str) and on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise', 'skip' or a callable (got {on_error!r})")
    if not folder.is_dir():
        return []
    files = sorted(
        (p for p in folder.rglob("*.md") if p.is_file()),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    documents: list[Document] = []
    for path in files:
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        try:
            documents.extend(_load_file(path, relative.as_posix(), redact, max_chars))
        except ConfigError as error:
            if on_error == "raise":
                raise
            if callable(on_error):
                on_error(error)
    return documents


def domain_documents(
    analysis: AnalysisConfig, redact: Callable[[str], str] = _identity
) -> list[Document]:
    """One note per ``domain_knowledge`` line and one per baseline of ``analysis``."""
    documents = [
        Document(
            source="domain",
            kind="note",
            title="Domain knowledge",
            text=redact(line),
            payload={"type": "domain_knowledge", "index": index},
        )
        for index, line in enumerate(analysis.domain_knowledge)
    ]
    for baseline in analysis.baselines:
        bounds = ", ".join(
            f"{name} {value:g}"
            for name, value in (("min", baseline.min), ("max", baseline.max))
            if value is not None
        )
        documents.append(
            Document(
                source="domain",
                kind="note",
                title=f"Baseline: {baseline.metric}",
                text=redact(f"Baseline: {baseline.describe()} ({baseline.metric} {bounds})"),
                payload={
                    "type": "baseline",
                    "metric": baseline.metric,
                    "min": baseline.min,
                    "max": baseline.max,
                },
            )
        )
    return documents


# ------------------------------------------------------------------------------------- reading
def _bad(path: Path, expected: str, got: object = None) -> ConfigError:
    return ConfigError("runbook", str(path), expected, got)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(path, f"a readable file ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise _bad(path, f"UTF-8 text (byte 0x{bad:02x} at offset {exc.start} is not)") from exc


@dataclass(frozen=True)
class _Meta:
    service: str = ""
    tags: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


def _front_matter(path: Path, lines: list[str]) -> tuple[_Meta, int]:
    """The front matter and the index of the first line after it."""
    if not lines or lines[0].rstrip() != "---":
        return _Meta(), 0
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise _bad(path, "front matter opened with '---' on line 1 to be closed by '---'")
    try:
        data: Any = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        where = ""
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            where = f" on line {exc.problem_mark.line + 2}"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise _bad(path, f"front matter in YAML ({problem}{where})") from exc
    if data is None:
        return _Meta(), end + 1
    if not isinstance(data, dict):
        raise _bad(path, f"front matter as a mapping of {', '.join(FRONT_MATTER_KEYS)}", data)
    unknown = sorted(str(k) for k in data if k not in FRONT_MATTER_KEYS)
    if unknown:
        allowed = ", ".join(FRONT_MATTER_KEYS)
        raise _bad(path, f"front matter keys among {allowed}; unknown: {', '.join(unknown)}")
    service = data.get("service") or ""
    if not isinstance(service, str):
        raise _bad(path, "front matter service: a service name or 'any'", service)
    lists: dict[str, tuple[str, ...]] = {}
    for name in ("tags", "metrics"):
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad(path, f"front matter {name}: a list of strings", value)
        lists[name] = tuple(value)
    service = "" if service.strip().lower() == "any" else service.strip()
    return _Meta(service, lists["tags"], lists["metrics"]), end + 1


# ------------------------------------------------------------------------------------ sections
@dataclass
class _Heading:
    level: int
    title: str
    line: int
    anchor: str
    used: bool = False


@dataclass
class _Section:
    heading: _Heading | None
    body: list[tuple[int, str]]  # (line number, text)


def _fence_open(line: str) -> str | None:
    match = _FENCE.match(line)
    if match is None or (match.group(1)[0] == "`" and "`" in match.group(2)):
        return None
    return match.group(1)


def _fence_closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(line) - len(line.lstrip(" ")) <= 3 and bool(
        re.fullmatch(re.escape(fence[0]) + "{" + str(len(fence)) + ",}", stripped)
    )


def _sections(lines: list[str], first: int) -> list[_Section]:
    """The file body cut at headings of level 1-3 outside code fences (``first``: line number of
    ``lines[0]``). The first section holds what comes before any heading."""
    sections = [_Section(None, [])]
    seen: dict[str, int] = {}
    fence: str | None = None
    for number, line in enumerate(lines, start=first):
        if fence is not None:
            fence = None if _fence_closes(line, fence) else fence
        elif (opened := _fence_open(line)) is not None:
            fence = opened
        elif (match := _HEADING.match(line)) is not None:
            title = _CLOSING_HASHES.sub("", match.group(2) or "").strip()
            anchor = github_anchor(title)
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            if len(match.group(1)) <= CHUNK_LEVELS:
                anchor = f"{anchor}-{count}" if count else anchor
                sections.append(_Section(_Heading(len(match.group(1)), title, number, anchor), []))
                continue
        sections[-1].body.append((number, line.rstrip()))
    return sections


def _blocks(body: list[tuple[int, str]]) -> list[tuple[int, list[str], str | None]]:
    """Paragraphs and fenced code blocks: (first line number, lines, the fence or None)."""
    blocks: list[tuple[int, list[str], str | None]] = []
    current: list[str] = []
    start, fence = 0, None
    for number, line in body:
        if fence is not None:
            current.append(line)
            if _fence_closes(line, fence):
                blocks.append((start, current, fence))
                current, fence = [], None
        elif (opened := _fence_open(line)) is not None:
            if current:
                blocks.append((start, current, None))
            current, start, fence = [line], number, opened
        elif not line.strip():
            if current:
                blocks.append((start, current, None))
            current = []
        else:
            if not current:
                start = number
            current.append(line)
    if current:
        blocks.append((start, current, fence))
    return blocks


def _pack_lines(lines: list[tuple[int, str]], budget: int) -> Iterator[tuple[int, list[str]]]:
    """Consecutive lines grouped into runs of at most ``budget`` characters (a longer single
    line makes a run of its own)."""
    run: list[str] = []
    start, size = 0, 0
    for number, line in lines:
        if run and size + 1 + len(line) > budget:
            yield start, run
            run = []
        if not run:
            start, size = number, len(line)
        else:
            size += 1 + len(line)
        run.append(line)
    if run:
        yield start, run


def _split(body: list[tuple[int, str]], budget: int) -> list[tuple[int, str]]:
    """``body`` as parts of at most ``budget`` characters: (first line number, text)."""
    parts: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0

    def flush() -> None:
        if current:
            parts.append((start, "\n\n".join(current)))
            current.clear()

    for first, lines, fence in _blocks(body):
        text = "\n".join(lines)
        if current and len("\n\n".join(current)) + 2 + len(text) <= budget:
            current.append(text)
            continue
        flush()
        if len(text) <= budget:
            start = first
            current.append(text)
            continue
        numbered = list(enumerate(lines, start=first))
        if fence is None:
            parts.extend((n, "\n".join(run)) for n, run in _pack_lines(numbered, budget))
            continue
        closed = len(lines) > 1 and _fence_closes(lines[-1], fence)
        opening, closing = lines[0], lines[-1] if closed else fence
        inner = numbered[1:-1] if closed else numbered[1:]
        room = max(budget - len(opening) - len(closing) - 2, 1)
        for n, run in _pack_lines(inner, room):
            parts.append((first if n == first + 1 else n, "\n".join([opening, *run, closing])))
    flush()
    return parts


def _trim(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    keep = [i for i, (_, line) in enumerate(body) if line.strip()]
    return body[keep[0] : keep[-1] + 1] if keep else []


def _load_file(
    path: Path, relative: str, redact: Callable[[str], str], max_chars: int
) -> list[Document]:
    lines = _read(path).splitlines()
    meta, skip = _front_matter(path, lines)
    ts = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    name = re.sub(r"[-_\s]+", " ", path.stem).strip() or path.stem
    file_title = name[:1].upper() + name[1:]
    documents: list[Document] = []
    stack: list[_Heading] = []
    for section in _sections(lines[skip:], skip + 1):
        heading = section.heading
        if heading is not None:
            popped = [h for h in stack if h.level >= heading.level]
            stack = [h for h in stack if h.level < heading.level]
            folded = [h for h in popped if not h.used]
            if folded:
                heading.title = " / ".join([*(h.title for h in folded), heading.title])
                heading.line, heading.anchor = folded[0].line, folded[0].anchor
            stack.append(heading)
        body = _trim(section.body)
        if not body:
            continue
        for h in stack:
            h.used = True
        path_titles = [h.title for h in stack]
        if not stack or stack[0].level != 1:
            path_titles.insert(0, file_title)
        title = redact(" > ".join(path_titles))
        head_text = redact(heading.title) if heading is not None else file_title
        anchor = heading.anchor if heading is not None else ""
        if heading is not None and head_text != heading.title:
            anchor = github_anchor(head_text)
        redacted = redact("\n".join(line for _, line in body)).split("\n")
        body = list(zip(range(body[0][0], body[0][0] + len(redacted)), redacted, strict=True))
        whole = "\n".join(redacted)
        if len(title) + 2 + len(whole) <= max_chars:
            parts = [(body[0][0], whole)]
        else:
            parts = _split(body, max(max_chars - len(title) - 2, 1))
        if heading is not None:
            parts[0] = (heading.line, parts[0][1])
        for index, (line, text) in enumerate(parts, start=1):
            payload = {
                "path": relative,
                "heading": head_text,
                "anchor": anchor,
                "line": line,
                "tags": list(meta.tags),
                "metrics": list(meta.metrics),
                "part": index,
                "parts": len(parts),
            }
            documents.append(
                Document(
                    source="runbook",
                    kind="runbook",
                    text=f"{title}\n\n{text}",
                    ts=ts,
                    service=meta.service,
                    title=title,
                    payload=payload,
                )
            )
    return documents
