"""``/vigil`` over HTTP mode: signed requests to the real Bolt app, acknowledged at once,
answered through the response_url or chat.postMessage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.app import VigilApp
from bot.chat import ChatError
from bot.config import Settings
from bot.http import HttpServer
from bot.slackbot.front import SlackFront
from handlers import messages
from tests.bot.slackbot.conftest import BOT_TOKEN, PNG, SECRET, Recorder, SlackWorld, slack_env
from tests.standins.slack_api import SlackStandIn, slash_command_form


async def test_a_slash_command_is_acknowledged_then_answered_in_channel(world: SlackWorld) -> None:
    status, ack, took = await world.slash("status", channel_id="C0ALERTS", user_id="U42")
    assert status == 200 and took < 1.0
    assert ack == {"text": "Working on `status`…", "response_type": "ephemeral"}
    (answer,) = await world.slack.until(lambda: world.slack.posts_to("r1"), what="the answer")
    assert answer["response_type"] == "in_channel" and answer["replace_original"] is False
    assert answer["text"] == "All quiet on payments."
    fields = answer["blocks"][1]["fields"]
    assert fields[0] == {"type": "mrkdwn", "text": "*p95*\n120 ms"}
    assert answer["blocks"][-1]["type"] == "context"
    (req,) = world.recorder.requests
    assert (req.user, req.channel, req.platform, req.thread_id) == ("U42", "alerts", "slack", None)
    assert req.text == "status"
    assert not world.slack.called("chat.postMessage")  # the response_url was enough


async def test_empty_text_gets_the_routers_hint_and_an_unknown_command_its_polite_reply(
    world: SlackWorld,
) -> None:
    status, ack, _ = await world.slash("", key="empty")
    assert status == 200 and ack == {}
    status, _, _ = await world.slash("frobnicate now", key="unknown")
    (hint,) = await world.slack.until(lambda: world.slack.posts_to("empty"))
    assert hint["response_type"] == "ephemeral" and hint["text"] == messages.EMPTY_INPUT
    (polite,) = await world.slack.until(lambda: world.slack.posts_to("unknown"))
    assert polite["response_type"] == "ephemeral"
    assert polite["text"].startswith(":warning: I don't know the command `frobnicate`")


async def test_user_text_cannot_ping_the_channel(world: SlackWorld) -> None:
    _, ack, _ = await world.slash("<!channel> hi", key="ping")
    assert "<!channel>" not in ack["text"] and "&lt;!channel&gt;" in ack["text"]
    (reply,) = await world.slack.until(lambda: world.slack.posts_to("ping"))
    assert "<!channel>" not in str(reply)


async def test_slash_command_text_is_unescaped_once_and_echoed_escaped_once(
    world: SlackWorld,
) -> None:
    sent = "ask is p95 &gt; 200ms &amp; rising in <#C0OPS|vigil-ops>?"
    _, ack, _ = await world.slash(sent, key="esc")
    assert ack["text"] == "Working on `ask is p95 &gt; 200ms &amp; rising in #vigil-ops?`…"
    (answer,) = await world.slack.until(lambda: world.slack.posts_to("esc"))
    (req,) = world.recorder.requests
    assert req.args == "is p95 > 200ms & rising in #vigil-ops?"
    assert answer["text"] == "Answer to: is p95 &gt; 200ms &amp; rising in #vigil-ops?"


async def test_bad_signature_and_stale_timestamp_are_refused_with_401(world: SlackWorld) -> None:
    form = slash_command_form("status", response_url=world.slack.response_url("x"))
    status, _, _ = await world.send(form, secret="not-the-secret-0000000000000000")
    assert status == 401
    status, _, _ = await world.send(form, timestamp=int(time.time()) - 10 * 60)
    assert status == 401
    status, _, _ = await world.send(form, timestamp=int(time.time()) + 10 * 60)
    assert status == 401
    async with world.session.post(world.events_url, data=form) as unsigned:
        assert unsigned.status == 401
    await asyncio.sleep(0.1)
    assert world.recorder.requests == [] and world.slack.posts_to("x") == []


@pytest.mark.slow
async def test_the_ack_comes_within_3s_while_the_answer_takes_10s(
    world_factory: Callable[..., Any],
) -> None:
    recorder = Recorder(delay_s=10.0)
    async with world_factory(recorder=recorder) as world:
        began = time.perf_counter()
        status, ack, took = await world.slash("ask why is checkout slow?", key="slow")
        assert status == 200 and took < 0.5, took
        assert ack["text"].startswith("Working on `ask why is checkout slow?`")
        assert world.front.health()["answers_in_flight"] == 1
        assert world.slack.posts_to("slow") == []
        (answer,) = await world.slack.until(lambda: world.slack.posts_to("slow"), timeout=15)
        waited = time.perf_counter() - began
        assert 10.0 <= waited < 13.0, waited
        assert answer["text"] == "Answer to: why is checkout slow?"
        assert world.front.health()["answers_in_flight"] == 0


async def test_a_reply_with_a_chart_is_posted_and_the_chart_uploaded_in_its_thread(
    world: SlackWorld,
) -> None:
    await world.slash("chart", channel_id="C0OPS", key="chart")
    (shared,) = await world.slack.until(lambda: world.slack.shared_files, what="the upload")
    (post,) = world.slack.called("chat.postMessage")
    assert post.params["channel"] == "C0OPS" and post.params["text"] == "Latency of checkout"
    message_ts = next(ts for (cid, ts) in world.slack.messages if cid == "C0OPS")
    assert shared["bytes"] == PNG and shared["title"] == "checkout p95"
    assert shared["channel"] == "C0OPS" and shared["thread_ts"] == message_ts
    (url_call,) = world.slack.called("files.getUploadURLExternal")
    assert url_call.params["filename"] == "checkout-p95.png"
    assert url_call.params["alt_txt"] == "a line"
    assert world.slack.posts_to("chart") == []


async def test_when_the_bot_is_not_in_the_channel_the_response_url_answers(
    world: SlackWorld,
) -> None:
    world.slack.fail("chat.postMessage", "not_in_channel")
    await world.slash("chart", channel_id="C0PRIVATE1", key="dm")
    (answer,) = await world.slack.until(lambda: world.slack.posts_to("dm"))
    assert answer["response_type"] == "in_channel" and answer["text"] == "Latency of checkout"


async def test_when_nothing_can_be_posted_the_user_is_told_briefly(world: SlackWorld) -> None:
    world.slack.fail("chat.postMessage", "not_in_channel")
    world.slack.expired.add("gone")
    await world.slash("chart", channel_id="C0PRIVATE1", key="gone")
    (note,) = await world.slack.until(lambda: world.slack.called("chat.postEphemeral"))
    assert note.params["channel"] == "C0PRIVATE1" and note.params["user"] == "W111"
    assert note.params["text"].startswith(":warning: I couldn't post the answer here")
    assert "`not_in_channel`" in note.params["text"] and "/invite @vigil" in note.params["text"]


async def test_a_long_answer_is_split_into_messages_within_slacks_limits(world: SlackWorld) -> None:
    await world.slash("long", channel_id="C0GENERAL", key="long")  # more than 5 messages
    await world.slack.until(lambda: len(world.slack.messages) >= 6, what="the messages")
    await asyncio.sleep(0.2)
    posts = world.slack.called("chat.postMessage")
    assert len(posts) >= 6 and world.slack.posts_to("long") == []
    for post in posts:
        blocks = post.params["blocks"]
        assert len(blocks) <= 50 and len(post.params["text"]) <= 4000
        sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
        assert all(len(text) <= 3000 for text in sections)
    assert posts[0].params["text"] == "A long answer."
    assert posts[1].params["text"] == f"A long answer. (2/{len(posts)})"
    words = sum(
        b["text"]["text"].count("word")
        for post in posts
        for b in post.params["blocks"]
        if b["type"] == "section"
    )
    assert words == 8 * 2000


async def test_a_user_not_allowed_to_mute_gets_the_ephemeral_refusal(
    slack: SlackStandIn, make_settings: Callable[..., Settings]
) -> None:
    import aiohttp

    from bot.fronts import start_fronts
    from tests.bot.slackbot.conftest import SlackWorld

    app = VigilApp(make_settings(**slack_env(slack)), knowledge=False)  # the real commands
    fronts = await start_fronts(app)
    try:
        async with aiohttp.ClientSession() as session:
            world = SlackWorld(slack, app, fronts, session, Recorder())
            await world.slash("mute payments/payments-2:memory_leak 1h", key="no")
            (refusal,) = await slack.until(lambda: slack.posts_to("no"))
    finally:
        await fronts.stop()
    assert refusal["response_type"] == "ephemeral"
    assert refusal["text"].startswith(":warning: Sorry, `mute` changes state")
    assert not slack.called("chat.postMessage")


async def test_start_refuses_a_bad_token_a_missing_secret_and_an_unreachable_api(
    slack: SlackStandIn, make_settings: Callable[..., Settings]
) -> None:
    def front(**env: str) -> SlackFront:
        settings = make_settings(**{**slack_env(slack), **env})
        return SlackFront(VigilApp(settings, knowledge=False), HttpServer("127.0.0.1", 0))

    with pytest.raises(ChatError) as refused:
        await front(SLACK_BOT_TOKEN="xoxb-bad-1111111111").start()
    assert str(refused.value) == "slack: SLACK_BOT_TOKEN was refused (invalid_auth)"
    with pytest.raises(ChatError, match="HTTP mode needs SLACK_SIGNING_SECRET"):
        await front(SLACK_SIGNING_SECRET="").start()
    with pytest.raises(ChatError, match=r"cannot reach the Slack Web API at http://127.0.0.1:9"):
        await front(SLACK_API_URL="http://127.0.0.1:9").start()
    assert [c.method for c in slack.calls] == ["auth.test"]


async def test_stop_waits_a_bounded_time_for_answers_then_cancels_them(
    world_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with world_factory(recorder=Recorder(delay_s=30.0)) as world:
        await world.slash("ask anything?", key="late")
        await world.slack.until(lambda: world.front.health()["answers_in_flight"] == 1)
        world.front.drain_s = 0.2
        began = time.perf_counter()
        await world.front.stop()
        assert time.perf_counter() - began < 1.0
        assert world.front.health()["ok"] is False
        assert world.front.health()["answers_in_flight"] == 0
        assert "1 answer(s) still running at stop were cancelled" in caplog.text
        form = slash_command_form("status", response_url=world.slack.response_url("after"))
        status, _, _ = await world.send(form)
        assert status == 503


async def test_no_token_or_secret_reaches_the_log(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await world.slash("chart", channel_id="C0OPS", key="log")
    await world.slack.until(lambda: world.slack.shared_files)
    await world.slash("status", key="log2", channel_id="C0OPS")
    await world.slack.until(lambda: world.slack.posts_to("log2"))
    assert "chat.postMessage" in caplog.text  # the SDK's debug lines are there
    assert BOT_TOKEN not in caplog.text and SECRET not in caplog.text


async def test_a_user_past_the_rate_limit_is_told_once_then_gets_nothing(
    world: SlackWorld,
) -> None:
    burst = world.app.settings.ai.chat.burst
    for n in range(burst + 2):
        status, _, _ = await world.slash("status", key=f"k{n}")
        assert status == 200  # every command is still acknowledged
    told = await world.slack.until(lambda: world.slack.posts_to(f"k{burst}"), what="the notice")
    assert told[0]["response_type"] == "ephemeral" and "please wait" in told[0]["text"]
    await world.slack.until(lambda: world.slack.posts_to(f"k{burst - 1}"), what="an answer")
    await asyncio.sleep(0.2)
    assert world.slack.posts_to(f"k{burst + 1}") == []  # told already: nothing more
    assert len(world.recorder.requests) == burst
