"""Redaction of secrets and personal data.

Everything Vigil logs, stores, embeds or sends to an LLM passes through a ``Redactor`` first.
Each finding is replaced by a typed placeholder such as ``[REDACTED:email]``, so that the text
stays readable ("login failed for [REDACTED:email]") while the value is gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from re import Match, Pattern


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum used by payment cards."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Order matters: specific token shapes first, generic key=value last.
_SECRET_PATTERNS: tuple[tuple[str, str], ...] = (
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("aws_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack_token", r"\bxapp-\d-[A-Za-z0-9-]{10,}"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ("api_key", r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}"),
    ("api_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("bearer", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
    ("basic_auth", r"(?i)\bbasic\s+[A-Za-z0-9+/]{12,}={0,2}"),
    ("url_credentials", r"(?<=://)[^\s:/@]+:[^\s@/]+(?=@)"),
)
_KEY_VALUE = re.compile(
    r"(?i)\b((?:aws_)?(?:secret(?:_access)?_key|api[_-]?key|apikey|access[_-]?token|auth[_-]?token"
    r"|client[_-]?secret|token|secret|password|passwd|pwd))(\"?\s*[:=]\s*\"?)([^\s\"',;&]{3,})"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IPV4 = re.compile(
    r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"
)
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])")
_KEEP_IPS = {"0.0.0.0", "127.0.0.1", "255.255.255.255"}


@dataclass
class Redactor:
    """Replaces secrets and personal data with ``[REDACTED:kind]`` placeholders.

    ``known_secrets``: literal values (the bot's own tokens) scrubbed wherever they appear.
    ``extra_patterns``: the team's own regular expressions, from ``privacy.extra_patterns``.
    """

    redact_emails: bool = True
    redact_ips: bool = True
    extra_patterns: Iterable[str] = ()
    known_secrets: Iterable[str] = ()
    _patterns: list[tuple[str, Pattern[str]]] = field(init=False, repr=False)
    _known: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._patterns = [(kind, re.compile(p)) for kind, p in _SECRET_PATTERNS]
        self._patterns += [("custom", re.compile(p)) for p in self.extra_patterns]
        self._known = sorted({s for s in self.known_secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str, replace: Replace | None = None) -> str:
        """Return ``text`` with every finding replaced by its placeholder, or by what
        ``replace(kind, value)`` returns (the pseudonymiser uses that to remember values)."""
        if not text:
            return text
        sub = replace or _placeholder
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, sub("secret", secret))
        for kind, pattern in self._patterns:
            text = pattern.sub(lambda m, k=kind: _keep_or(m, k, sub), text)  # type: ignore[misc]
        text = _KEY_VALUE.sub(lambda m: _key_value(m, sub), text)
        if self.redact_emails:
            text = _EMAIL.sub(lambda m: _keep_or(m, "email", sub), text)
        text = _CARD.sub(lambda m: _card(m, sub), text)
        if self.redact_ips:
            text = _IPV4.sub(lambda m: _ip(m, sub), text)
            text = _IPV6.sub(lambda m: _keep_or(m, "ip", sub), text)
        return text


Replace = Callable[[str, str], str]
"""``replace(kind, value) -> text`` put in place of a finding."""

_PLACEHOLDER = re.compile(r"\[(?:REDACTED:[a-z_]+|[A-Z_]+_\d+)\]")


def _placeholder(kind: str, value: str) -> str:
    return f"[REDACTED:{kind}]"


def _keep_or(match: Match[str], kind: str, sub: Replace) -> str:
    value = match.group(0)
    return value if _PLACEHOLDER.fullmatch(value) else sub(kind, value)


def _key_value(match: Match[str], sub: Replace) -> str:
    value = match.group(3)
    if value.startswith("[") and _PLACEHOLDER.match(value):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{sub(match.group(1).lower(), value)}"


def _card(match: Match[str], sub: Replace) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return sub("card", match.group(0))
    return match.group(0)


def _ip(match: Match[str], sub: Replace) -> str:
    return match.group(0) if match.group(0) in _KEEP_IPS else sub("ip", match.group(0))
