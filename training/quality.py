"""Quality filter for generated language samples.

``QualityFilter.check`` rejects an LLM answer that is empty, too short, a refusal, truncated or
malformed; ``QualityFilter.accept`` also rejects exact and near duplicates of every answer accepted
before. A rejection is a ``Verdict`` with one of ``REASONS`` and a short human note.

Near duplicates are word 3-shingle Jaccard similarity at or above a threshold. The search is
MinHash LSH: each text gets a 60-value MinHash signature cut into bands; texts sharing a band are
candidates, candidates whose signatures clearly disagree are dropped, and the rest are compared on
their exact shingle sets. The cost of ``accept`` does not grow with the number of texts remembered.

Not thread-safe: the generator calls it from one thread.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

REASONS: tuple[str, ...] = (
    "empty",
    "too_short",
    "refusal",
    "truncated",
    "malformed",
    "duplicate",
    "near_duplicate",
)

TRUNCATING_FINISH_REASONS = frozenset({"length", "max_tokens"})
"""``finish_reason`` values meaning the token limit cut the answer (OpenAI/Ollama, Anthropic)."""


@dataclass(frozen=True)
class Verdict:
    """What the filter decided about one answer."""

    ok: bool
    text: str
    """The cleaned response (what goes into the dataset when ``ok``)."""
    reason: str | None
    """One of ``REASONS`` when not ``ok``."""
    detail: str = ""
    """A short human note, e.g. "12 words, at least 20 needed"."""


# ---------------------------------------------------------------------------------------- clean

_THINK_BLOCK = re.compile(r"<(think|thinking)>.*?</\1>", re.S | re.I)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.I)
_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.I)
_WRAPPING_FENCE = re.compile(r"(```|~~~)[ \t]*([\w+.-]*)[ \t]*\n(.*?)\n?[ \t]*\1[ \t]*", re.S)
_PROSE_FENCE_LANGS = frozenset({"", "markdown", "md", "text", "txt", "plaintext", "plain"})
_QUOTE_PAIRS = {'"': '"', "“": "”", "'": "'", "‘": "’", "«": "»", "`": "`"}


def clean(text: str) -> str:
    """The answer as it should be stored.

    Normalises line ends, removes reasoning blocks (``<think>...</think>`` as deepseek-r1 emits,
    and the reasoning before a lone ``</think>`` when the chat template opened the block), strips
    surrounding whitespace and a pair of quotes or a prose code fence (no language, ``markdown``,
    ``text``) around the whole answer. A fence naming a programming language is content and stays.
    Inner formatting (lists, code blocks) is kept. An unclosed ``<think>`` is left in place for
    ``QualityFilter.check`` to reject. Idempotent.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = _THINK_BLOCK.sub("", text)
    closing = list(_THINK_CLOSE.finditer(text))
    if closing and not _THINK_OPEN.search(text):
        text = text[closing[-1].end() :]
    previous = None
    while text != previous:
        previous = text
        text = _unwrap(text.strip())
    return text


def _unwrap(text: str) -> str:
    fence = _WRAPPING_FENCE.fullmatch(text)
    if fence and fence.group(2).lower() in _PROSE_FENCE_LANGS and fence.group(1) not in fence[3]:
        return fence.group(3)
    if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        inner = text[1:-1]
        # apostrophes inside words ("it's") are not quotes
        inner_quotes = re.sub(r"(?<=\w)['’](?=\w)", "", inner) if text[0] in "'‘" else inner
        if text[0] not in inner_quotes and text[-1] not in inner_quotes:
            return inner
    return text


# ------------------------------------------------------------------------------ text utilities

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_FENCE_LINE = re.compile(r"^[ \t]{0,3}(?:```|~~~)", re.M)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _prose_lines(text: str) -> list[str]:
    """Lines outside fenced code blocks, excluding indented code and table rows."""
    lines: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE_LINE.match(line):
            in_fence = not in_fence
        elif not (in_fence or line.startswith(("    ", "\t")) or line.lstrip().startswith("|")):
            lines.append(line)
    return lines


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])(?:\s+|$)")


def _sentences(prose: list[str]) -> list[str]:
    out: list[str] = []
    for line in prose:
        line = _LIST_MARKER.sub("", line).strip()
        if line:
            out.extend(s for s in _SENTENCE_END.split(line) if s)
    return out


# ---------------------------------------------------------------------------------- malformed

_CHAT_TOKENS = re.compile(
    r"<\|(?:im_start|im_end|eot_id|start_header_id|end_header_id|endoftext|user|assistant|system)"
    r"\|>|\[/?INST\]|<start_of_turn>|<end_of_turn>"
)
_PROMPT_ECHO = re.compile(
    r"(?:#{1,4}\s*)?(?:user|human|system|assistant|instruction|input|response|prompt)\s*:",
    re.I,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _malformed(text: str) -> str | None:
    if _THINK_OPEN.search(text):
        return "unclosed <think> reasoning block"
    if "\ufffd" in text:
        return f"{text.count(chr(0xFFFD))} U+FFFD replacement characters (broken encoding)"
    if _CONTROL.search(text):
        return "control characters in the text"
    head = text[:200].lstrip("#> \t").lower()
    if head.startswith(("traceback (most recent call last)", "<!doctype html", "<html")):
        return "an error page or traceback instead of an answer"
    if _PROMPT_ECHO.match(text) or _CHAT_TOKENS.search(text):
        return "prompt echo or chat-template tokens"
    if text.startswith("{") and text.endswith("}"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and (
            "error" in document
            or "errors" in document
            or document.get("object") == "error"
            or set(document) == {"detail"}
        ):
            return "a JSON error object instead of an answer"
    prose = _prose_lines(text)
    letters_ratio = _letter_ratio("".join(prose))
    if letters_ratio is None or letters_ratio[1] < 40:
        letters_ratio = _letter_ratio(text)
        limit = 0.3
    else:
        limit = 0.5
    if letters_ratio is not None and letters_ratio[0] < limit:
        return f"mostly non-letters ({letters_ratio[0]:.0%} letters)"
    return _loop(prose)


_LETTERS = re.compile(r"[^\W\d_]+")
_SPACE = re.compile(r"\s+")
_ASCII_NON_LETTERS = bytes(c for c in range(128) if not chr(c).isalpha())
_ASCII_SPACE = b" \t\n\r\x0b\x0c"


def _letter_ratio(text: str) -> tuple[float, int] | None:
    """(share of letters among visible characters, visible characters)."""
    if text.isascii():  # the common case, counted in C
        raw = text.encode()
        visible = len(raw.translate(None, _ASCII_SPACE))
        letters = len(raw.translate(None, _ASCII_NON_LETTERS))
    else:
        visible = len(text) - sum(map(len, _SPACE.findall(text)))
        letters = sum(map(len, _LETTERS.findall(text)))
    return (letters / visible, visible) if visible else None


_PUNCT = ".,;:!?…\"'“”‘’()[]*_`"


def _norm_sentence(sentence: str) -> str:
    return " ".join(sentence.casefold().split()).strip(_PUNCT + " ")


def _loop(prose: list[str]) -> str | None:
    """A degenerate repetition: a sentence or line 3+ times, a word 6+ times in a row, or the
    text ending in a cycle of words repeated 3+ times."""
    for units in (_sentences(prose), prose):
        # four words or more: short lines ("Example:", "}") may legitimately recur
        counts = Counter(key for key in map(_norm_sentence, units) if key.count(" ") >= 3)
        if counts:
            key, count = counts.most_common(1)[0]
            if count >= 3:
                return f"repeats {key[:40]!r} {count} times"
    tokens = [t.strip(_PUNCT) for t in " ".join(prose).casefold().split()]
    run = 1
    for index in range(1, len(tokens)):
        run = run + 1 if tokens[index] == tokens[index - 1] and tokens[index] else 1
        if run >= 6:
            return f"the word {tokens[index]!r} repeated {run}+ times in a row"
    size = len(tokens)
    for period in range(1, min(41, size // 3 + 1)):
        if tokens[-1 - period] != tokens[-1]:
            continue
        reps = 1
        tail = tokens[size - period :]
        while size >= (reps + 1) * period and (
            tokens[size - (reps + 1) * period : size - reps * period] == tail
        ):
            reps += 1
        if reps >= 3 and reps * period >= 12:
            return f"ends in a loop of {period} words repeated {reps} times"
    return None


# ------------------------------------------------------------------------------------ refusal

_NEG = (
    r"(?:can['’]?t|cannot|can not|won['’]t|will not|(?:am|['’]m) (?:unable|not able) to"
    r"|(?:am|['’]m) not (?:allowed|permitted) to)"
)
_ASSIST = (
    r"(?:help(?!\s+but\b)|assist|provide|give|answer|share|offer|generate|create|write"
    r"|disclose|discuss|comply|fulfil|fulfill|engage|support|continue|do (?:that|this))\b"
)
_HARD_REFUSAL = re.compile(
    r"\bas an ai(?![-\w])|\bas a (?:large )?language model\b"
    r"|\bi(?: am|['’]m) (?:just |only )?an ai\b"
    r"|\b(?:i(?: am|['’]m) (?:sorry|afraid)|i apologi[sz]e|sorry|apologies|unfortunately)\b"
    rf"[^.!?\n]{{0,30}}?\bi\s*{_NEG}(?:\s*[.!,]|\s+{_ASSIST})"
    r"|\bi (?:must|have to) (?:respectfully )?(?:decline|refuse)\b"
    rf"|\bi\s*{_NEG}\s+(?:help|assist)\s+(?:you\s+)?with\s+(?:that|this|your request|such)\b"
    rf"|\bi\s*{_NEG}\s+(?:comply|fulfil|fulfill|engage)\b"
    r"|\b(?:against|violates?) (?:my|openai['’]s) (?:ethical )?"
    r"(?:guidelines|polic(?:y|ies)|programming|content policy|usage policies)\b",
    re.I,
)
_SOFT_REFUSAL = re.compile(
    rf"\bi\s*{_NEG}\s+(?:{_ASSIST}|(?:access|predict|determine|browse|see|view)\b)"
    r"|\bi (?:do not|don['’]t) have (?:access|the ability|real-time|enough "
    r"(?:information|context|data|details))",
    re.I,
)
_REFUSAL_NEEDLES = (
    *(" i" + after for after in " '’,"),
    *(" ai" + after for after in " ,.;"),
    "as an ai",
    "language model",
    "guidelines",
    "polic",
    "programming",
)
"""Every refusal phrase contains one of these (in the lower-cased, space-normalised text with a
space in front): a cheap test before the full patterns."""
_OPENING_QUOTES = "\"'“‘«`"


def _refusal_matches(text: str) -> list[tuple[re.Match[str], bool]]:
    """(match, is_hard) for every refusal phrase not inside a quotation."""
    found = []
    for pattern, hard in ((_HARD_REFUSAL, True), (_SOFT_REFUSAL, False)):
        for match in pattern.finditer(text):
            before = text[: match.start()].rstrip()
            if before.endswith(tuple(_OPENING_QUOTES)):
                continue  # quoted speech: "a polite way to say no is 'I'm sorry, but I can't ...'"
            found.append((match, hard))
    return found


def _refusing_sentence(sentence: str) -> bool:
    """A hard refusal phrase, or a soft one not followed by a clause of content."""
    return any(
        hard or len(_words(sentence[match.end() :])) < 12
        for match, hard in _refusal_matches(sentence)
    )


def _refusal(text: str, min_words: int) -> str | None:
    padded = " " + " ".join(text.lower().split())
    if not any(needle in padded for needle in _REFUSAL_NEEDLES):
        return None
    start_window = 250
    for match, hard in _refusal_matches(text[: start_window + 200]):
        if match.start() >= start_window:
            continue
        if hard:
            return f"refusal near the start: {match.group(0)!r}"
        # a hedge ("I can't see your cluster, but ...") followed by a real answer is an answer
        if len(_words(text[match.end() :])) < max(2 * min_words, 30):
            return f"refusal near the start: {match.group(0)!r}"
    sentences = _sentences(_prose_lines(text))
    total = sum(len(_words(s)) for s in sentences)
    refusing = sum(len(_words(s)) for s in sentences if _refusing_sentence(s))
    if total and refusing / total >= 0.5:
        return f"refusal sentences are {refusing / total:.0%} of the answer"
    return None


# ---------------------------------------------------------------------------------- truncated

_DANGLING_WORDS = frozenset(
    {"a", "an", "the", "and", "or", "but", "to", "of", "with", "for", "in", "on", "by", "from"}
    | {"as", "at", "is", "are", "was", "be", "that", "which", "than", "such", "via", "using"}
)
_TERMINAL = ".!?…。！？"
_CLOSERS = "\"'”’)]}*_~>"
_URL_END = re.compile(r"https?://\S+$")


def _truncated(text: str) -> str | None:
    fences = len(_FENCE_LINE.findall(text))
    if fences % 2:
        return "unclosed code fence"
    lines = [line for line in text.split("\n") if line.strip()]
    last = lines[-1].rstrip() if lines else ""
    stripped = last.strip()
    if _FENCE_LINE.match(last) or last.startswith(("    ", "\t")):
        return None  # the end of a code block
    if stripped.startswith("|") and stripped.endswith("|"):
        return None  # a table row
    if re.fullmatch(r"[-*+•]|\d{1,3}[.)]", stripped):
        return "ends with an empty list item"
    if re.match(r"#{1,6}\s", stripped):
        return "ends with a heading"
    item = _LIST_MARKER.match(last)
    if item:
        content = last[item.end() :].rstrip(_CLOSERS + " ")
        words = content.split()
        if content.endswith((",", ":", ";", "(", "-", "—")) or (
            words and words[-1].casefold() in _DANGLING_WORDS
        ):
            return f"list item ends mid-sentence: {last[-40:]!r}"
        return None  # a list item is a complete last line
    if last.endswith("`") or _URL_END.search(last):
        return None  # inline code (a command) or a link
    end = last
    while end and (unicodedata.category(end[-1]) in ("So", "Sk", "Mn", "Cf") or end[-1] == " "):
        end = end[:-1]
    if end != last.rstrip() and end:
        return None  # ends with an emoji
    end = end.rstrip(_CLOSERS + " ")
    if end.endswith(tuple(_TERMINAL)):
        return None
    return f"ends mid-sentence: {last[-40:]!r}"


# ---------------------------------------------------------------------------- near duplicates

_NUM_PERM = 60
_RNG = np.random.default_rng(0x5EED_0D0C)
_PERM_A = _RNG.integers(1, 2**63, size=_NUM_PERM, dtype=np.uint64) | np.uint64(1)
_PERM_B = _RNG.integers(0, 2**63, size=_NUM_PERM, dtype=np.uint64)
_SHINGLE_MULT = _RNG.integers(1, 2**63, size=3, dtype=np.uint64) | np.uint64(1)


def _lsh_shape(threshold: float) -> tuple[int, int]:
    """(bands, rows): the most rows per band (fewest false candidates) that still miss a pair at
    the threshold with probability below 1e-4."""
    for rows in (10, 6, 5, 4, 3, 2, 1):
        bands = _NUM_PERM // rows
        if (1 - threshold**rows) ** bands < 1e-4:
            return bands, rows
    return _NUM_PERM, 1


class _NearDuplicateIndex:
    """MinHash LSH over word 3-shingles, with exact Jaccard on the candidates."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.bands, self.rows = _lsh_shape(threshold)
        self._band_mult = _RNG.integers(1, 2**63, size=self.rows, dtype=np.uint64) | np.uint64(1)
        self._band_salt = np.arange(self.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        self._word_ids: dict[str, int] = {}
        self._buckets: dict[int, int | list[int]] = {}
        self._shingles: list[np.ndarray] = []
        self._signatures = np.zeros((1024, _NUM_PERM), dtype=np.uint32)
        self.exact_comparisons = 0

    def __len__(self) -> int:
        return len(self._shingles)

    def _word_id(self, word: str) -> int:
        found = self._word_ids.get(word)
        if found is None:
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            found = self._word_ids[word] = int.from_bytes(digest, "little")
        return found

    def sketch(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(sorted unique shingle hashes, signature, band keys) of a tokenised text."""
        ids = np.fromiter((self._word_id(t) for t in tokens), dtype=np.uint64, count=len(tokens))
        if len(ids) >= 3:
            raw = ids[:-2] * _SHINGLE_MULT[0] + ids[1:-1] * _SHINGLE_MULT[1] + ids[2:]
        else:
            raw = np.array([(ids * _SHINGLE_MULT[: len(ids)]).sum()], dtype=np.uint64)
        shingles = np.unique(raw)
        signature = ((shingles[:, None] * _PERM_A + _PERM_B).min(axis=0) >> np.uint64(32)).astype(
            np.uint32
        )
        bands = signature.reshape(self.bands, self.rows).astype(np.uint64)
        keys = (bands * self._band_mult).sum(axis=1) + self._band_salt
        return shingles, signature, keys.tolist()

    def most_similar(self, sketch: tuple[np.ndarray, np.ndarray, list[int]]) -> float:
        """The highest exact Jaccard at or above the threshold with a remembered text, else 0."""
        shingles, signature, keys = sketch
        candidates: set[int] = set()
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            if isinstance(bucket, int):
                candidates.add(bucket)
            else:
                candidates.update(bucket)
        if not candidates:
            return 0.0
        ordered = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        estimate = (self._signatures[ordered] == signature).mean(axis=1)
        # the estimate's standard deviation is below 0.065 at 60 permutations: 0.3 is > 4.5 sigma
        keep = estimate >= self.threshold - 0.3
        for index in ordered[keep][np.argsort(-estimate[keep])]:
            other = self._shingles[int(index)]
            self.exact_comparisons += 1
            common = len(np.intersect1d(shingles, other, assume_unique=True))
            similarity = common / (len(shingles) + len(other) - common)
            if similarity >= self.threshold:
                return similarity
        return 0.0

    def add(self, sketch: tuple[np.ndarray, np.ndarray, list[int]]) -> None:
        shingles, signature, keys = sketch
        index = len(self._shingles)
        if index == len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.zeros_like(self._signatures)])
        self._signatures[index] = signature
        self._shingles.append(shingles)
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = index
            elif isinstance(bucket, int):
                self._buckets[key] = [bucket, index]
            else:
                bucket.append(index)


# ------------------------------------------------------------------------------------- filter


class QualityFilter:
    """Rejects bad answers (``check``) and duplicates of accepted ones (``accept``)."""

    def __init__(self, min_words: int = 20, near_duplicate: float = 0.85) -> None:
        if not 0.0 < near_duplicate <= 1.0:
            raise ValueError(f"near_duplicate must be in (0, 1], got {near_duplicate}")
        self.min_words = min_words
        self.near_duplicate = near_duplicate
        self._exact: set[bytes] = set()
        self._index = _NearDuplicateIndex(near_duplicate)

    def check(self, text: str, *, finish_reason: str | None = None) -> Verdict:
        """Stateless checks on ``clean(text)``, in this order: empty, malformed, refusal,
        too_short, truncated. ``finish_reason`` "length" (or "max_tokens") means truncated."""
        cleaned = clean(text)
        if not cleaned:
            return Verdict(False, cleaned, "empty", "no text after cleaning")
        problem = _malformed(cleaned)
        if problem:
            return Verdict(False, cleaned, "malformed", problem)
        problem = _refusal(cleaned, self.min_words)
        if problem:
            return Verdict(False, cleaned, "refusal", problem)
        count = len(_words(cleaned))
        if count < self.min_words:
            detail = f"{count} words, at least {self.min_words} needed"
            return Verdict(False, cleaned, "too_short", detail)
        if finish_reason in TRUNCATING_FINISH_REASONS:
            return Verdict(False, cleaned, "truncated", f"finish_reason={finish_reason}")
        problem = _truncated(cleaned)
        if problem:
            return Verdict(False, cleaned, "truncated", problem)
        return Verdict(True, cleaned, None)

    def accept(self, text: str, *, finish_reason: str | None = None, scope: str = "") -> Verdict:
        """``check``, then reject an exact duplicate (same words, ignoring case and punctuation) or
        a near duplicate (word 3-shingle Jaccard >= ``near_duplicate``) of any text accepted or
        remembered before; remember the text when it passes. ``scope`` is accepted and ignored:
        duplicates are global."""
        verdict = self.check(text, finish_reason=finish_reason)
        if not verdict.ok:
            return verdict
        tokens = [w.casefold() for w in _words(verdict.text)]
        key = _exact_key(tokens)
        if key in self._exact:
            return Verdict(False, verdict.text, "duplicate", "same text as an earlier sample")
        sketch = self._index.sketch(tokens)
        similarity = self._index.most_similar(sketch)
        if similarity:
            detail = f"{similarity:.2f} similar to an earlier sample (limit {self.near_duplicate})"
            return Verdict(False, verdict.text, "near_duplicate", detail)
        self._exact.add(key)
        self._index.add(sketch)
        return verdict

    def remember(self, text: str) -> None:
        """Add an already accepted text (when resuming), without checks. Remembering the same
        words twice counts once."""
        tokens = [w.casefold() for w in _words(clean(text))]
        key = _exact_key(tokens)
        if key in self._exact:
            return
        self._exact.add(key)
        if tokens:
            self._index.add(self._index.sketch(tokens))

    def __len__(self) -> int:
        """Texts remembered (accepted or added by ``remember``)."""
        return len(self._exact)

    @property
    def exact_comparisons(self) -> int:
        """Exact Jaccard computations so far: stays small when LSH works (for benchmarks)."""
        return self._index.exact_comparisons


def _exact_key(tokens: list[str]) -> bytes:
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=16).digest()
