"""Alerts posted through the hub, their buttons pressed, and the messages amended."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from handlers import alerts
from handlers.registry import default_registry
from handlers.types import Amend, Reply
from tests.bot.slackbot.conftest import SlackWorld, alert_reply
from tests.handlers.test_alertbook import detection
from tests.handlers.test_alerts import REQUEST, Fleet


def _message(world: SlackWorld, channel: str, number: int = 0) -> tuple[str, dict[str, Any]]:
    """The ``number``-th top-level message in ``channel``: (ts, message)."""
    top = [
        (ts, m)
        for (cid, ts), m in world.slack.messages.copy().items()
        if cid == channel and "thread_ts" not in m
    ]
    return top[number]


def _kinds(message: dict[str, Any]) -> list[str]:
    return [block["type"] for block in message["blocks"]]


async def test_ack_then_resolve_buttons_amend_the_alert_message(world: SlackWorld) -> None:
    await world.app.post("alerts", alert_reply("a-3"))
    ts, message = _message(world, "C0ALERTS")
    assert _kinds(message) == ["section", "section", "actions", "context"]
    buttons = message["blocks"][2]["elements"]
    assert [(b["text"]["text"], b["value"], b.get("style")) for b in buttons] == [
        ("Acknowledge", "ack a-3", "primary"),
        ("Resolve", "resolve a-3", "danger"),
    ]
    assert len({b["action_id"] for b in buttons}) == 2
    (detail,) = [m for m in world.slack.messages.copy().values() if m.get("thread_ts") == ts]
    assert detail["text"] == "a-3 details"

    assert await world.press("C0ALERTS", ts, "Acknowledge", user_id="U0ONCALL") == 200
    await world.slack.until(lambda: world.slack.called("chat.update"), what="the amend")
    (req,) = world.recorder.requests
    assert (req.text, req.user, req.channel, req.thread_id) == ("ack a-3", "U0ONCALL", "alerts", ts)
    answers = [m for m in world.slack.messages.copy().values() if m.get("thread_ts") == ts]
    assert answers[-1]["text"] == "a-3 is acknowledged by U0ONCALL."
    message = world.slack.messages[("C0ALERTS", ts)]
    assert _kinds(message) == ["section", "section", "actions", "context", "context"]
    assert message["blocks"][-1]["elements"][0]["text"] == "Acknowledged by U0ONCALL"

    assert await world.press("C0ALERTS", ts, "Resolve", user_id="U0ONCALL") == 200
    await world.slack.until(lambda: len(world.slack.called("chat.update")) == 2)
    message = world.slack.messages[("C0ALERTS", ts)]
    assert "actions" not in _kinds(message)  # closed: the buttons are gone
    assert [b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context"] == [
        "a-3 · details in thread",
        "Acknowledged by U0ONCALL",
        "Resolved by U0ONCALL",
    ]
    assert world.recorder.requests[1].text == "resolve a-3"


async def test_a_later_reply_amends_the_message_by_its_ref(world: SlackWorld) -> None:
    await world.app.post("alerts", alert_reply("a-7"))
    ts, _ = _message(world, "C0ALERTS")
    resolved = Reply(
        "Resolved: a-7 payments/payments-2: memory_leak after 12m",
        amends=(
            Amend("Resolved after 12m", ref="alert:a-7", close=True),
            Amend("never posted", ref="alert:a-99", close=True),
        ),
    )
    await world.app.post("alerts", resolved)
    (update,) = world.slack.called("chat.update")
    assert update.params["ts"] == ts and update.params["channel"] == "C0ALERTS"
    message = world.slack.messages[("C0ALERTS", ts)]
    assert "actions" not in _kinds(message)
    assert message["blocks"][-1]["elements"][0]["text"] == "Resolved after 12m"
    assert _message(world, "C0ALERTS", 1)[1]["text"].startswith("Resolved: a-7")


async def test_a_refused_button_press_answers_the_presser_only(world: SlackWorld) -> None:
    await world.app.post("general", alert_reply("a-4"))  # #general is not in `access`
    ts, _ = _message(world, "C0GENERAL")
    await world.press("C0GENERAL", ts, "Resolve", user_id="U0VISITOR", key="refused")
    (refusal,) = await world.slack.until(lambda: world.slack.posts_to("refused"))
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert refusal["text"].startswith(":warning: Sorry, `resolve` changes state")
    await asyncio.sleep(0.1)
    assert world.recorder.requests == [] and not world.slack.called("chat.update")


async def test_hub_posts_skip_channels_without_a_slack_name(
    world_factory: Callable[..., Any], config_dir: Any
) -> None:
    channels = (config_dir / "channels.yml").read_text()
    channels = channels.replace('slack: "#vigil-digest"', 'slack: "#not-there"')
    channels = channels.replace('slack: "#vigil-ops"', 'slack: "C0OPSBYID"')
    (config_dir / "channels.yml").write_text(channels)
    async with world_factory() as world:
        assert world.front.channels.missing == ["digest"]
        assert world.front.health()["channels_missing"] == ["digest"]
        await world.app.post("digest", Reply("Daily digest"))
        await world.app.post("ops", Reply("Job `alerts` recovered."))
        await world.app.post("nowhere", Reply("?"))
        posts = world.slack.called("chat.postMessage")
        assert [c.params["channel"] for c in posts] == ["C0OPSBYID"]


async def test_channel_names_are_resolved_through_paged_conversations_list(
    world_factory: Callable[..., Any], slack: Any
) -> None:
    slack.page_size = 2
    async with world_factory() as world:
        lists = world.slack.called("conversations.list")
        # five channels two to a page: the four wanted are found on the first two pages
        assert [c.params.get("cursor") for c in lists] == [None, "2"]
        assert world.front.channels.ids == {
            "alerts": "C0ALERTS",
            "digest": "C0DIGEST",
            "general": "C0GENERAL",
            "ops": "C0OPS",
        }
        assert world.front.health() == {
            "ok": True,
            "mode": "http",
            "bot_user": "U0001",
            "answers_in_flight": 0,
            "channels_missing": [],
        }
        assert world.fronts.http is not None
        async with world.session.get(f"{world.fronts.http.url}/healthz") as health:
            assert (await health.json())["components"]["slack"]["ok"] is True


async def test_a_real_alert_is_acked_and_resolved_by_its_buttons_even_after_a_restart(
    world_factory: Callable[..., Any],
) -> None:
    fleet = Fleet()
    fleet.found = [detection(0)]
    async with world_factory(registry=default_registry()) as world:
        world.app.deps.detect, world.app.deps.clock = fleet.detect, lambda: fleet.now
        for channel, reply in await alerts.check(REQUEST, world.app.deps):
            await world.app.post(channel, reply)
        ts, message = _message(world, "C0ALERTS")
        assert message["text"] == "[warning] payments/payments-2: memory_leak"
        buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["text"]["text"], b["value"]) for b in buttons] == [
            ("Acknowledge", "ack a-1"),
            ("Mute 1h", "mute payments/payments-2:memory_leak 1h"),
            ("Explain more", "explain a-1"),
            ("Resolve", "resolve a-1"),
        ]
        (chart,) = world.slack.shared_files
        assert chart["thread_ts"] == ts and chart["bytes"].startswith(b"\x89PNG")
        (detail,) = [
            (k, m) for k, m in world.slack.messages.copy().items() if m.get("thread_ts") == ts
        ]
        assert detail[1]["text"].startswith("a-1 [warning]")

        await world.press("C0ALERTS", ts, "Acknowledge", user_id="U0ONCALL")
        updates = await world.slack.until(lambda: len(world.slack.called("chat.update")) == 2)
        assert updates
        for key in (("C0ALERTS", ts), detail[0]):  # the alert and its thread reply
            last = world.slack.messages[key]["blocks"][-1]
            assert last["elements"][0]["text"].startswith("a-1 acknowledged by U0ONCALL at ")
        assert "actions" in _kinds(world.slack.messages[("C0ALERTS", ts)])
        answer = [m for m in world.slack.messages.copy().values() if m.get("thread_ts") == ts][-1]
        assert answer["text"].startswith("a-1 (payments/payments-2: memory_leak) is acknowledged")

    # a restart forgets which message carried which alert; the pressed one still says it
    async with world_factory(registry=default_registry()) as world:
        world.app.deps.clock = lambda: fleet.now
        await world.press("C0ALERTS", ts, "Resolve", user_id="U0ONCALL")
        await world.slack.until(lambda: len(world.slack.called("chat.update")) == 3)
        message = world.slack.messages[("C0ALERTS", ts)]
        assert "actions" not in _kinds(message)
        status = message["blocks"][-1]["elements"][0]["text"]
        assert status.startswith("a-1 resolved by U0ONCALL at ")


async def test_429_with_retry_after_is_waited_out(world: SlackWorld) -> None:
    world.slack.throttle("chat.postMessage", times=1, retry_after=1)
    await world.app.post("ops", Reply("Job `alerts` failed: boom.", error=True))
    first, second = [c for c in world.slack.calls if c.method == "chat.postMessage"]
    assert (first.status, second.status) == (429, 200)
    assert 1.0 <= second.at - first.at < 3.0
    assert second.params["text"] == ":warning: Job `alerts` failed: boom."


def _statuses(message: dict[str, Any]) -> list[str]:
    return [b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context"]


async def test_two_amends_of_one_message_at_once_keep_both_statuses(world: SlackWorld) -> None:
    await world.app.post("alerts", alert_reply("a-5"))
    ts, _ = _message(world, "C0ALERTS")
    world.slack.delays["chat.update"] = 0.05  # both edits under way at once
    delivery = world.front.delivery
    await asyncio.gather(
        delivery.amend((Amend("Acknowledged by U1", ref="alert:a-5"),)),
        delivery.amend((Amend("Resolved after 3m", ref="alert:a-5", close=True),)),
    )
    message = world.slack.messages[("C0ALERTS", ts)]
    assert _statuses(message) == [
        "a-5 · details in thread",
        "Acknowledged by U1",
        "Resolved after 3m",
    ]
    assert "actions" not in _kinds(message)
    assert delivery._editing == {}  # no lock is kept once its edits are done


async def test_an_ack_pressed_while_the_resolved_post_amends_keeps_both(
    world: SlackWorld,
) -> None:
    """The user's path: a press and the alerts job's resolved post edit one message at once;
    the pressed message is not remembered (a restart), so the press starts from its payload."""
    await world.app.post("alerts", alert_reply("a-6"))
    ts, _ = _message(world, "C0ALERTS")
    world.front.delivery._by_ts.clear()
    world.slack.delays["chat.update"] = 0.2
    resolved = Reply(
        "Resolved: a-6", amends=(Amend("Resolved after 5m", ref="alert:a-6", close=False),)
    )
    press = asyncio.create_task(world.press("C0ALERTS", ts, "Acknowledge", user_id="U0ONCALL"))
    await world.slack.until(lambda: len(world.slack.called("chat.postMessage")) == 3)
    await world.app.post("alerts", resolved)
    await press
    await world.slack.until(lambda: len(world.slack.called("chat.update")) == 2)
    assert sorted(_statuses(world.slack.messages[("C0ALERTS", ts)])) == [
        "Acknowledged by U0ONCALL",
        "Resolved after 5m",
        "a-6 · details in thread",
    ]
