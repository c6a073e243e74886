"""Vigil's exception tree. Every error Vigil raises on purpose is a ``VigilError``::

VigilError
 ├── ConfigError          a setting is missing or wrong (the CLI exits 2)
 ├── SourceUnavailable    a data source cannot be reached
 ├── QueryError           a source answered, but not with what was asked
 ├── ProviderError        an LLM provider failed or timed out
 └── StoreError           the knowledge store is unreadable or unwritable
"""

from __future__ import annotations


class VigilError(Exception):
    """Base class of every error Vigil raises on purpose."""


class ConfigError(VigilError):
    """A configuration value is missing or invalid.

    ``str(error)`` is one line naming the key, the file and what is expected.
    """

    def __init__(self, key: str, source: str, expected: str, got: object = None) -> None:
        self.key = key
        self.source = source
        self.expected = expected
        self.got = got
        message = f"{source}: {key}: {expected}"
        if got is not None:
            message += f" (got {got!r})"
        super().__init__(message)


class SourceUnavailable(VigilError):
    """A data source (Prometheus, Elasticsearch, ...) cannot be reached."""


class QueryError(VigilError):
    """A source answered, but the query was rejected or the answer was malformed."""


class ProviderError(VigilError):
    """An LLM provider failed, refused or timed out."""


class StoreError(VigilError):
    """The knowledge store cannot be read or written."""
