"""The small parts: bounded memories, channel mapping, and the stand-in's payload shapes
against Slack's own (bolt-python's fixtures in ../shared/data/slack)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import Recent
from bot.render.slack import carried_refs, render
from bot.slackbot.channels import SlackChannels
from handlers.types import Button, Buttons, Reply
from tests.bot.slackbot.conftest import BOT_TOKEN
from tests.conftest import SHARED_DATA
from tests.standins import slack_api

PAYLOADS = SHARED_DATA / "slack" / "payloads.json"


def test_recent_forgets_the_oldest_and_tells_what_it_has_seen() -> None:
    recent: Recent[str] = Recent(keep=3)
    assert [recent.seen(k) for k in ("a", "b", "a", "c", "d")] == [False, False, True, False, False]
    assert "b" not in recent and "a" in recent and len(recent) == 3


def test_channels_map_ids_both_ways_and_names_once_resolved() -> None:
    channels = SlackChannels({"alerts": "vigil-alerts", "ops": "C0OPSBYID"})
    assert channels.id_for("ops") == "C0OPSBYID" and channels.id_for("alerts") is None
    assert channels.vigil_name("C0OPSBYID") == "ops"
    assert channels.vigil_name("C0ELSE") == "C0ELSE"
    assert channels.vigil_name("C0ELSE", "Vigil-Alerts") == "alerts"  # by its name


async def test_a_resolved_channel_is_known_by_its_id_not_by_its_name() -> None:
    """#vigil-alerts renamed, and a new channel made under the old name: the new one is not
    the alerts channel (a slash command there must not get the access of #alerts)."""
    configured = {"alerts": "vigil-alerts", "digest": "vigil-digest-gone"}
    with slack_api.serve({BOT_TOKEN}) as slack:
        channels = SlackChannels(configured)
        await channels.resolve(AsyncWebClient(token=BOT_TOKEN, base_url=slack.url + "/"))
    assert channels.ids == {"alerts": "C0ALERTS"} and channels.missing == ["digest"]
    assert channels.vigil_name("C0ALERTS", "vigil-alerts-old") == "alerts"
    assert channels.vigil_name("C0NEWALERTS", "vigil-alerts") == "C0NEWALERTS"
    # not resolved (no channels:read, a private channel): its name is all there is to go by
    assert channels.vigil_name("C0DIGEST2", "vigil-digest-gone") == "digest"


def test_buttons_carry_their_replys_refs_for_amends_after_a_restart() -> None:
    reply = Reply("alert", parts=(Buttons((Button("Ack", "ack a-3"),)),), refs=("alert:a-3",))
    (message,) = render(reply).messages
    assert carried_refs(message.blocks) == {"alert:a-3"}
    assert carried_refs(render(Reply("plain")).messages[0].blocks) == set()


@pytest.mark.skipif(not PAYLOADS.is_file(), reason="../shared/data/slack is not present")
def test_the_stand_ins_payloads_have_slacks_shapes() -> None:
    fixtures = json.loads(PAYLOADS.read_text())
    slash = dict(parse_qsl(fixtures["test_slash_command.py::slash_command_body"]))
    ours = slack_api.slash_command_payload("status", response_url="http://x/r")
    assert set(ours) == set(slash)
    actions = fixtures["test_block_actions.py::body"]
    message = {"ts": "1.2", "text": "t", "blocks": []}
    button = {"action_id": "vigil:0", "text": {"type": "plain_text", "text": "Ack"}, "value": "v"}
    pressed = slack_api.block_actions_body(message, button, channel_id="C1", response_url="u")
    assert set(actions) <= set(pressed)
    assert set(actions["actions"][0]) == set(pressed["actions"][0])
    assert set(actions["container"]) == set(pressed["container"])
    event = fixtures["test_events.py::valid_event_body"]
    mention = slack_api.message_event("hi", channel="C1", kind="app_mention")
    ours_event = slack_api.event_body(mention)
    assert set(event) - {"authed_users"} <= set(ours_event)
    assert set(event["event"]) <= set(ours_event["event"])
