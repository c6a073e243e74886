"""``/vigil``: one slash command group whose subcommands mirror the command registry.

Each registry command becomes ``/vigil NAME`` with string options taken from its usage
(``mute SELECTOR DURATION`` -> ``selector``, ``duration``; ``help [COMMAND]`` -> an optional
``topic``), so commands the registry gains later (digest, summarize, incidents) appear without a
change here. Every subcommand turns its options back into the command text (``mute payments 1h``)
and hands it to one shared function, the same path as a mention.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.render.discord import truncate

log = logging.getLogger(__name__)

GROUP = "vigil"
GROUP_DESCRIPTION = "Ask Vigil about your systems, and handle its alerts"
SUBCOMMANDS_MAX = 25
OPTIONS_MAX = 25
DESCRIPTION_MAX = 100
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")

Run = Callable[[discord.Interaction, str], Awaitable[None]]


class CommandInfo(Protocol):
    """What is read of a registry command (``handlers.registry.Command``)."""

    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def usage(self) -> str: ...


@dataclass(frozen=True)
class Option:
    name: str
    description: str
    required: bool = True
    flag: str = ""  # given back as "--flag VALUE"


@dataclass(frozen=True)
class SlashSpec:
    name: str
    description: str
    options: tuple[Option, ...] = ()

    def text(self, values: Mapping[str, str | None]) -> str:
        """The command text for the chosen options: ``mute payments 1h``."""
        words = [self.name]
        for option in self.options:
            value = (values.get(option.name) or "").strip()
            if value:
                words += [option.flag, value] if option.flag else [value]
        return " ".join(words)


# Option names and descriptions for the commands Vigil ships; others are read from the usage.
KNOWN_OPTIONS: dict[str, tuple[Option, ...]] = {
    "ask": (Option("question", "what you want to know, e.g. why is checkout slow?"),),
    "status": (Option("services", "service names, space-separated (default: all)", False),),
    "explain": (Option("target", "a metric name or an alert id, e.g. a-3"),),
    "ack": (Option("id", "the alert id, e.g. a-3"),),
    "resolve": (Option("id", "the alert id, e.g. a-3"),),
    "mute": (
        Option("selector", "SERVICE[/HOST][:TYPE], globs allowed, e.g. payments/payments-2"),
        Option("duration", "how long, e.g. 30m, 1h, 2d"),
    ),
    "unmute": (Option("selector", "what `mute` was given, e.g. payments/payments-2"),),
    "help": (Option("topic", "a command to explain", False),),
}


def options_from_usage(usage: str) -> tuple[Option, ...]:
    """``digest CHANNEL [SINCE]`` -> ``channel`` (required), ``since`` (optional);
    ``--window DURATION`` -> ``window``, given back as ``--window VALUE``. Discord wants the
    required options first: after an optional one, all are optional."""
    options: list[Option] = []
    optional = False
    flag = ""
    for token in usage.split()[1:]:
        optional = optional or token.startswith("[")
        inner = token[1:] if token.startswith("[") else token
        while inner.endswith("]") and inner.count("]") > inner.count("["):
            inner = inner[:-1]  # [WHO] -> WHO; SERVICE[/HOST][:TYPE] stays as it is
        if inner.startswith("-"):
            flag = inner
            continue
        word = re.sub(r"\[.*?\]|[\[\]]|\.\.\.", "", inner).strip().lower()
        name = re.sub(r"[^-_a-z0-9]+", "_", flag.lstrip("-").lower() or word).strip("-_")[:32]
        if not name or any(o.name == name for o in options):
            flag = ""
            continue
        description = truncate(f"{flag} {inner}".strip(), DESCRIPTION_MAX)
        options.append(Option(name, description, not optional, flag))
        flag = ""
    return tuple(options[:OPTIONS_MAX])


def specs(commands: Iterable[CommandInfo]) -> list[SlashSpec]:
    """One subcommand per registry command whose name Discord accepts, at most 25."""
    out: list[SlashSpec] = []
    for command in commands:
        name = command.name.lower()
        if not _NAME.match(name):
            log.debug("discord: no slash subcommand for %r (not a valid name)", command.name)
            continue
        if len(out) >= SUBCOMMANDS_MAX:
            log.warning("discord: /vigil holds 25 subcommands; %s and later are left out", name)
            break
        options = KNOWN_OPTIONS.get(name) or options_from_usage(command.usage)
        description = truncate(command.summary.strip() or command.usage, DESCRIPTION_MAX)
        out.append(SlashSpec(name, description, options))
    return out


def subcommand(spec: SlashSpec, run: Run) -> app_commands.Command[Any, ..., None]:
    """``/vigil <spec.name>``: its options, as strings, become the command text for ``run``."""

    async def callback(interaction: discord.Interaction, **values: str | None) -> None:
        await run(interaction, spec.text(values))

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    parameters += [
        inspect.Parameter(
            option.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str,
            default=inspect.Parameter.empty if option.required else None,
        )
        for option in spec.options
    ]
    # discord.py reads the options from the callback's signature
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    described = app_commands.describe(**{o.name: o.description for o in spec.options})(callback)
    return app_commands.Command(name=spec.name, description=spec.description, callback=described)


def build_group(commands: Iterable[CommandInfo], run: Run) -> app_commands.Group:
    group = app_commands.Group(name=GROUP, description=GROUP_DESCRIPTION)
    for spec in specs(commands):
        group.add_command(subcommand(spec, run))
    return group
