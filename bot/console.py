"""Terminal chat: a prompt where you type the same commands as in Slack.

Input is read on a daemon thread so that a blocked ``input()`` never holds up shutdown.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.render.terminal import render
from handlers.types import Reply

PROMPT = "vigil> "
QUIT_WORDS = {"quit", "exit", ":q"}


def _reader(
    stdin: TextIO,
    prompt: str,
    stdout: TextIO,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[str | None],
) -> None:
    while True:
        if prompt:
            stdout.write(prompt)
            stdout.flush()
        try:
            line = stdin.readline()
        except (OSError, ValueError):
            line = ""
        if not line:
            loop.call_soon_threadsafe(queue.put_nowait, None)
            return
        loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))


async def repl(
    handle: Callable[[str], Awaitable[Reply]],
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    prompt: str = PROMPT,
) -> None:
    """Read lines, answer each, until end of input or ``quit``."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    thread = threading.Thread(
        target=_reader,
        args=(stdin, prompt, stdout, asyncio.get_running_loop(), queue),
        name="vigil-terminal",
        daemon=True,
    )
    thread.start()
    while True:
        line = await queue.get()
        if line is None or line.strip().lower() in QUIT_WORDS:
            return
        if not line.strip():
            continue
        reply = await handle(line)
        stdout.write(render(reply) + "\n\n")
        stdout.flush()
