"""``/vigil`` subcommands from registry commands: names, options, the command text back."""

from __future__ import annotations

from dataclasses import dataclass

from bot.discordbot.commands import Option, SlashSpec, options_from_usage, specs


@dataclass(frozen=True)
class Info:
    name: str
    usage: str
    summary: str = "does a thing"


def test_options_follow_the_usage() -> None:
    assert options_from_usage("digest CHANNEL [SINCE]") == (
        Option("channel", "CHANNEL"),
        Option("since", "SINCE", required=False),
    )
    assert options_from_usage("status [SERVICE ...]") == (
        Option("service", "SERVICE", required=False),
    )
    assert options_from_usage("x SERVICE[/HOST][:TYPE]") == (
        Option("service", "SERVICE[/HOST][:TYPE]"),
    )
    # after an optional option every one is optional (Discord wants required ones first)
    assert [o.required for o in options_from_usage("x [A] B")] == [False, False]
    assert options_from_usage("incidents [--since DURATION]") == (
        Option("since", "--since DURATION", required=False, flag="--since"),
    )


def test_the_options_become_the_command_text_again() -> None:
    (mute,) = specs([Info("mute", "mute SELECTOR DURATION")])
    assert [o.name for o in mute.options] == ["selector", "duration"]  # the known names
    assert mute.text({"selector": " payments ", "duration": "1h"}) == "mute payments 1h"
    flagged = SlashSpec("incidents", "d", options_from_usage("incidents [--since DURATION]"))
    assert flagged.text({"since": "2h"}) == "incidents --since 2h"
    assert flagged.text({"since": None}) == "incidents"


def test_names_discord_refuses_are_left_out_and_25_at_most() -> None:
    commands = [Info("?", "?"), Info("Ask", "ask QUESTION")]
    commands += [Info(f"c{i}", f"c{i}", "s" * 150) for i in range(30)]
    made = specs(commands)
    assert made[0].name == "ask" and len(made) == 25
    assert all(len(s.description) <= 100 for s in made)
