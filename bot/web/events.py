"""The console's live updates: a bounded log of events, fanned out to every open page.

Each event is one Server-Sent Event whose id is ``BOOT-SEQ``: ``BOOT`` changes with every process,
``SEQ`` counts up. A page that reconnects sends its last id (``Last-Event-ID``) and gets what it
missed from the log; when that is not possible (another process, or older than the log keeps) it
gets a ``reset`` event and reloads the history instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Event = tuple[int, str]
"""``(seq, data)``: the sequence number and the JSON text of the event's ``data:`` line."""


@dataclass(eq=False)
class Subscriber:
    """One open event stream. ``dropped`` when it fell too far behind: it ends and the page
    reconnects with its ``Last-Event-ID``."""

    queue: asyncio.Queue[Event]
    since: int = 0
    """The last sequence number published when it subscribed."""
    dropped: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, timeout: float) -> Event:
        """The next event; ``TimeoutError`` after ``timeout`` s (time for a heartbeat),
        ``StreamEnded`` when the stream was dropped or the console stops."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.dropped:
            raise StreamEnded
        getter = asyncio.ensure_future(self.queue.get())
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, waker}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (getter, waker):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if getter in done:
            return getter.result()
        if waker in done:
            raise StreamEnded
        raise TimeoutError


class StreamEnded(Exception):
    """The console dropped this stream (it fell behind, or the console stops)."""


def frame(event_id: str, data: str) -> bytes:
    """One Server-Sent Event as it goes on the wire."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"id: {event_id}\n{lines}\n".encode()


class EventLog:
    def __init__(self, keep: int = 1000, queue_size: int = 500) -> None:
        self.boot = secrets.token_hex(4)
        self._seq = 0
        self._log: deque[Event] = deque(maxlen=keep)
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def publish(self, kind: str, payload: dict[str, Any] | None = None) -> int:
        """Log ``{"type": kind, "message": payload}`` and queue it for every open stream."""
        self._seq += 1
        body: dict[str, Any] = {"type": kind}
        if payload is not None:
            body["message"] = payload
        event = (self._seq, json.dumps(body, ensure_ascii=False, separators=(",", ":")))
        self._log.append(event)
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.info("web console: a page fell behind its event stream; it will reconnect")
                sub.dropped = True
                sub.wake.set()
                self._subscribers.discard(sub)
        return self._seq

    def subscribe(self, last_event_id: str | None) -> tuple[Subscriber, list[Event] | None]:
        """A new stream, and what it missed since ``last_event_id``: a list (maybe empty), or
        ``None`` when it cannot resume (it gets a reset). Synchronous, so nothing published in
        between is lost or doubled."""
        sub = Subscriber(asyncio.Queue(maxsize=self._queue_size), since=self._seq)
        self._subscribers.add(sub)
        return sub, self._missed(last_event_id)

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def close_all(self) -> None:
        """End every open stream (shutdown)."""
        for sub in list(self._subscribers):
            sub.dropped = True
            sub.wake.set()
        self._subscribers.clear()

    def _missed(self, last_event_id: str | None) -> list[Event] | None:
        if not last_event_id:
            return []
        boot, _, seq_text = last_event_id.strip().rpartition("-")
        if boot != self.boot or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self._seq:
            return None
        oldest = self._log[0][0] if self._log else self._seq + 1
        if seq + 1 < oldest:
            return None  # some of what it missed is no longer kept
        return [event for event in self._log if event[0] > seq]
