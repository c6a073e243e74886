"""``help``: generated from the command registry."""

from __future__ import annotations

from handlers import messages
from handlers.deps import Deps
from handlers.registry import Command, Registry
from handlers.types import ChatRequest, Reply, Section, Table


def render(registry: Registry, topic: str = "") -> Reply:
    topic = topic.strip().lower()
    if topic:
        command = registry.get(topic)
        if command is None:
            return Reply(messages.UNKNOWN_HELP_TOPIC.format(name=topic[:40]), ephemeral=True)
        lines = [f"`{command.usage}`: {command.summary}"]
        if command.aliases:
            lines.append("Also: " + ", ".join(f"`{a}`" for a in command.aliases))
        lines += [f"e.g. `{example}`" for example in command.examples]
        return Reply(
            lines[0], parts=(Section("\n".join(lines), title=command.name),), ephemeral=True
        )
    rows = tuple((f"{c.usage}", c.summary) for c in registry)
    return Reply(
        messages.HELP_HEADER,
        parts=(
            Table(columns=("command", "what it does"), rows=rows),
            Section(messages.HELP_FOOTER),
        ),
        ephemeral=True,
    )


def command_for(registry: Registry) -> Command:
    async def handle(req: ChatRequest, deps: Deps) -> Reply:
        return render(registry, req.args)

    return Command(
        name="help",
        summary="list the commands, or explain one",
        usage="help [COMMAND]",
        handler=handle,
        aliases=("?", "commands"),
        examples=("help ask",),
    )
