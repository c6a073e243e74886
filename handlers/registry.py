"""The explicit list of chat commands. ``help`` is generated from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.types import ChatRequest, Reply

if TYPE_CHECKING:
    from handlers.deps import Deps

Handler = Callable[[ChatRequest, "Deps"], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    usage: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    mutates: bool = False  # changes state: only for users, roles or channels named in config


class Registry:
    """An ordered set of commands, looked up by name or alias."""

    def __init__(self, commands: Iterable[Command] = ()) -> None:
        self._commands: list[Command] = []
        self._by_name: dict[str, Command] = {}
        for command in commands:
            self.add(command)

    def add(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._by_name:
                raise ValueError(f"command name {name!r} is registered twice")
            self._by_name[name] = command
        self._commands.append(command)

    def get(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def names(self) -> list[str]:
        return list(self._by_name)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)


def default_registry() -> Registry:
    """Every command Vigil offers, in the order ``help`` lists them."""
    from handlers import alertcmds, ask, digest, explain, help, status, summarize

    registry = Registry(
        [
            ask.COMMAND,
            status.COMMAND,
            *explain.COMMANDS,
            *alertcmds.COMMANDS,
            digest.COMMAND,
            *summarize.COMMANDS,
        ]
    )
    registry.add(help.command_for(registry))
    return registry
