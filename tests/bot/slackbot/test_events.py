"""Mentions and thread follow-ups over the Events API (HTTP mode, signed requests)."""

from __future__ import annotations

import asyncio
import json

from bot.render.slack import escape
from tests.bot.slackbot.conftest import SlackWorld
from tests.standins.slack_api import BOT_USER, message_event


def _answers(world: SlackWorld) -> list[tuple[str, str | None, str]]:
    """(channel, thread_ts, text) of every chat.postMessage."""
    return [
        (c.params["channel"], c.params.get("thread_ts"), c.params["text"])
        for c in world.slack.called("chat.postMessage")
    ]


async def test_a_mention_is_answered_in_its_thread_and_follow_ups_there_too(
    world: SlackWorld,
) -> None:
    mention = message_event(
        f"<@{BOT_USER}> status", channel="C0GENERAL", ts="1700000000.000100", kind="app_mention"
    )
    assert await world.event(mention) == 200
    await world.slack.until(lambda: _answers(world), what="the answer")
    assert _answers(world) == [("C0GENERAL", "1700000000.000100", "All quiet on payments.")]
    (req,) = world.recorder.requests
    assert (req.user, req.channel, req.platform) == ("W222", "general", "slack")
    assert req.thread_id == "1700000000.000100" and req.text == f"<@{BOT_USER}> status"

    follow_up = message_event(
        "chart", channel="C0GENERAL", ts="1700000050.000200", thread_ts="1700000000.000100"
    )
    assert await world.event(follow_up) == 200
    await world.slack.until(lambda: len(_answers(world)) == 2, what="the follow-up answer")
    assert _answers(world)[1] == ("C0GENERAL", "1700000000.000100", "Latency of checkout")
    # the chart is uploaded after the message
    (chart,) = await world.slack.until(lambda: world.slack.shared_files, what="the chart")
    assert chart["thread_ts"] == "1700000000.000100"
    assert world.recorder.requests[1].thread_id == "1700000000.000100"


async def test_messages_vigil_was_not_asked_are_ignored(world: SlackWorld) -> None:
    mention = message_event(f"<@{BOT_USER}> status", channel="C0OPS", ts="1.1", kind="app_mention")
    await world.event(mention)
    await world.slack.until(lambda: _answers(world))
    ignored = [
        message_event("status", channel="C0OPS", ts="2.1", thread_ts="9.9"),  # another thread
        message_event("status", channel="C0GENERAL", ts="2.2", thread_ts="1.1"),  # other channel
        message_event("status", channel="C0OPS", ts="2.3"),  # not in a thread
        message_event("status", channel="C0OPS", ts="2.4", thread_ts="1.1", bot_id="B9"),
        message_event(
            "edited", channel="C0OPS", ts="2.5", thread_ts="1.1", subtype="message_changed"
        ),
    ]
    for event in ignored:
        assert await world.event(event) == 200
    # a follow-up that mentions Vigil again is answered once, by its app_mention
    again = f"<@{BOT_USER}> status again"
    await world.event(message_event(again, channel="C0OPS", ts="2.6", thread_ts="1.1"))
    await world.event(
        message_event(again, channel="C0OPS", ts="2.6", thread_ts="1.1", kind="app_mention")
    )
    await world.slack.until(lambda: len(_answers(world)) == 2)
    await asyncio.sleep(0.2)
    assert len(_answers(world)) == 2
    assert [r.text for r in world.recorder.requests] == [f"<@{BOT_USER}> status", again]


async def test_slack_retries_of_an_event_are_answered_once(world: SlackWorld) -> None:
    mention = message_event(f"<@{BOT_USER}> status", channel="C0OPS", ts="3.1", kind="app_mention")
    await world.event(mention, event_id="Ev0RETRY")
    await world.event(
        mention, event_id="Ev0RETRY", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "x"}
    )
    await world.slack.until(lambda: _answers(world))
    await asyncio.sleep(0.2)
    assert len(_answers(world)) == 1 and len(world.recorder.requests) == 1


async def test_an_ephemeral_reply_to_a_mention_goes_only_to_its_author(world: SlackWorld) -> None:
    mention = message_event(f"<@{BOT_USER}> secret", channel="C0OPS", ts="4.1", kind="app_mention")
    await world.event(mention)
    (call,) = await world.slack.until(lambda: world.slack.called("chat.postEphemeral"))
    assert call.params["user"] == "W222" and call.params["thread_ts"] == "4.1"
    assert call.params["text"] == "Only you see this."
    assert not world.slack.called("chat.postMessage")


async def test_the_url_verification_challenge_is_answered(world: SlackWorld) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595"
    body = json.dumps({"token": "t", "challenge": challenge, "type": "url_verification"})
    status, text, _ = await world.send(body, "application/json")
    assert status == 200 and json.loads(text) == {"challenge": challenge}


async def test_a_direct_message_is_answered_in_the_conversation(world: SlackWorld) -> None:
    dm = message_event("status", channel="D0DIRECT1", ts="6.1", channel_type="im")
    assert await world.event(dm) == 200
    await world.slack.until(lambda: _answers(world))
    assert _answers(world) == [("D0DIRECT1", None, "All quiet on payments.")]
    (req,) = world.recorder.requests
    assert (req.channel, req.thread_id, req.user) == ("D0DIRECT1", None, "W222")


async def test_thread_chatter_is_left_alone_and_commands_and_questions_answered(
    world: SlackWorld,
) -> None:
    mention = message_event(f"<@{BOT_USER}> status", channel="C0OPS", ts="7.1", kind="app_mention")
    await world.event(mention)
    await world.slack.until(lambda: _answers(world))
    chatter = ["ok I'll restart it", ":+1:", "thanks, looks fine now", "<@W333> can you check?"]
    for number, text in enumerate(chatter):
        follow_up = message_event(text, channel="C0OPS", ts=f"7.{number + 2}", thread_ts="7.1")
        await world.event(follow_up)
    for number, text in enumerate(["chart", "why is p95 up", "p95 &gt; 200ms again?"]):
        await world.event(message_event(text, channel="C0OPS", ts=f"8.{number}", thread_ts="7.1"))
    await world.slack.until(lambda: len(_answers(world)) == 4, what="three follow-up answers")
    await asyncio.sleep(0.2)
    # no "I don't know the command `ok`", no "I couldn't read that"
    assert not world.slack.called("chat.postEphemeral") and len(_answers(world)) == 4
    assert [(r.command, r.args) for r in world.recorder.requests] == [
        ("status", ""),
        ("chart", ""),
        ("ask", "why is p95 up"),
        ("ask", "p95 > 200ms again?"),
    ]
    # a direct message is always answered, chatter or not
    await world.event(message_event("ok thanks", channel="D0DIRECT1", ts="9.1", channel_type="im"))
    await world.slack.until(lambda: len(_answers(world)) == 5, what="the direct answer")
    channel, _, text = _answers(world)[4]
    assert channel == "D0DIRECT1" and text.startswith(":warning: I don't know the command `ok`")


async def test_slack_markup_reaches_the_command_as_typed(world: SlackWorld) -> None:
    text = (
        f"<@{BOT_USER}> why is p95 &gt; 200ms &amp; rising in <#C0OPS|vigil-ops>? "
        "see <https://grafana.example/d/1?a=1&amp;b=2|the board>"
    )
    await world.event(message_event(text, channel="C0OPS", ts="10.1", kind="app_mention"))
    (answer,) = await world.slack.until(lambda: _answers(world))
    (req,) = world.recorder.requests
    typed = (
        "why is p95 > 200ms & rising in #vigil-ops? "
        "see the board (https://grafana.example/d/1?a=1&b=2)"
    )
    assert req.command == "ask" and req.args == typed
    assert req.text == f"<@{BOT_USER}> {typed}"
    # echoed back escaped once (Slack shows `>` and `&`), not `&amp;gt;`
    assert answer[2] == f"Answer to: {escape(typed)}" and "&amp;gt;" not in answer[2]
    (message,) = [m for m in world.slack.messages.copy().values() if m.get("thread_ts") == "10.1"]
    assert "p95 &gt; 200ms &amp; rising" in message["blocks"][0]["text"]["text"]
