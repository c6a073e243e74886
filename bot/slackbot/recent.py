"""Bounded memories of the Slack front: the newest ``keep`` keys, oldest forgotten first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Recent(Generic[K]):
    def __init__(self, keep: int = 2000) -> None:
        self._keep = keep
        self._keys: OrderedDict[K, None] = OrderedDict()

    def add(self, key: K) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._keep:
            self._keys.popitem(last=False)

    def seen(self, key: K) -> bool:
        """Whether ``key`` was seen before; remembers it either way (deduplication)."""
        known = key in self._keys
        self.add(key)
        return known

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
