"""Socket Mode: the stand-in serves the websocket that apps.connections.open hands out, pushes
envelopes and reads the acks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.app import VigilApp
from bot.chat import ChatError
from bot.config import Settings
from bot.fronts import start_fronts
from bot.slackbot.front import EVENTS_PATH, SlackFront
from tests.bot.slackbot.conftest import APP_TOKEN, Recorder, slack_env
from tests.standins import slack_api
from tests.standins.slack_api import BOT_USER, SlackStandIn


async def test_a_slash_command_envelope_is_acked_and_answered(
    slack: SlackStandIn, make_settings: Callable[..., Settings]
) -> None:
    recorder = Recorder()
    settings = make_settings(**slack_env(slack, SLACK_APP_TOKEN=APP_TOKEN))
    fronts = await start_fronts(VigilApp(settings, registry=recorder.registry(), knowledge=False))
    try:
        front = fronts.get("slack")
        assert isinstance(front, SlackFront) and fronts.http is not None  # for /healthz
        routes = {r.resource.canonical for r in fronts.http.app.router.routes() if r.resource}
        assert EVENTS_PATH not in routes  # events come over the websocket
        assert front.health()["ok"] is True and front.health()["mode"] == "socket"
        (opened,) = slack.called("apps.connections.open")
        assert opened.token == APP_TOKEN
        await slack.until(lambda: slack.sockets == 1, what="the websocket")

        payload = slack_api.slash_command_payload(
            "status", response_url=slack.response_url("sock"), channel_id="C0OPS", user_id="U7"
        )
        envelope_id = slack.push("slash_commands", payload)
        ack = await slack.until(lambda: slack.acks.get(envelope_id), what="the ack")
        assert ack is not None and ack["payload"] == {
            "text": "Working on `status`…",
            "response_type": "ephemeral",
        }
        (answer,) = await slack.until(lambda: slack.posts_to("sock"), what="the answer")
        assert answer["text"] == "All quiet on payments."
        (req,) = recorder.requests
        assert (req.user, req.channel, req.platform) == ("U7", "ops", "slack")

        mention = slack_api.message_event(
            f"<@{BOT_USER}> status", channel="C0OPS", ts="5.1", kind="app_mention"
        )
        event_envelope = slack.push("events_api", slack_api.event_body(mention))
        await slack.until(lambda: slack.acks.get(event_envelope), what="the event ack")
        (post,) = await slack.until(lambda: slack.called("chat.postMessage"))
        assert post.params["thread_ts"] == "5.1"
    finally:
        await fronts.stop()
    assert front.health()["ok"] is False
    await slack.until(lambda: slack.sockets == 0, what="the websocket to close")


async def test_a_refused_app_token_stops_the_start(
    slack: SlackStandIn, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(**slack_env(slack, SLACK_APP_TOKEN="xapp-1-revoked-00000"))
    front = SlackFront(VigilApp(settings, knowledge=False), None)
    with pytest.raises(ChatError) as refused:
        await front.start()
    assert str(refused.value) == "slack: SLACK_APP_TOKEN was refused (invalid_auth)"
    assert slack.sockets == 0
    await front.stop()
