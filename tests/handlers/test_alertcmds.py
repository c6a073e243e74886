"""The alert commands, through the router as chat and buttons send them."""

from __future__ import annotations

from handlers.deps import Deps
from handlers.registry import default_registry
from handlers.router import Router
from handlers.types import Buttons, ChatRequest, Reply, Table
from tests.handlers.test_alertbook import T0, at, detection

ROUTER = Router(default_registry())


def _deps() -> Deps:
    deps = Deps(clock=lambda: at(20))
    deps.alerts.update([detection(0), detection(0, service="checkout", host="co-1")], at(0))
    return deps


async def say(text: str, deps: Deps, user: str = "ana") -> Reply:
    return await ROUTER.dispatch(ChatRequest(text, user=user), deps)


def test_the_commands_are_registered_and_mutating_ones_say_so() -> None:
    registry = default_registry()
    for name in ("alerts", "ack", "resolve", "mute", "unmute"):
        command = registry.get(name)
        assert command is not None
        assert command.mutates is (name != "alerts")


async def test_alerts_lists_firing_alerts_with_their_marks() -> None:
    deps = _deps()
    assert (await say("alerts", Deps())).text == "No alerts are firing."
    await say("ack a-2", deps, user="bob")
    await say("mute payments 1h", deps)
    reply = await say("alerts", deps)
    assert reply.text == "2 alert(s) firing, 0 critical."
    table = next(p for p in reply.parts if isinstance(p, Table))
    assert table.rows[0][:4] == ("a-1", "warning", "payments/payments-2", "memory_leak")
    assert table.rows[0][4] == "09:50 (30m)" and table.rows[0][5] == "muted"
    assert table.rows[1][5] == "acked by bob"
    assert "payments until 2026-11-21 11:20 UTC (by ana)" in reply.parts[1].text


async def test_ack_through_the_button_text_and_its_errors() -> None:
    deps = _deps()
    reply = await say("ack a-1", deps)
    assert not reply.error and reply.text.startswith("a-1 (payments/payments-2: memory_leak)")
    assert deps.alerts.get("a-1") is not None and deps.alerts.get("a-1").acked_by == "ana"
    unknown = await say("ack a-42", deps)
    assert unknown.error and unknown.text == (
        "No firing alert has the id 'a-42' (firing: a-1, a-2)."
    )
    assert (await say("ack", deps)).text.startswith("Usage: `ack ALERT_ID`")


async def test_mute_and_unmute_through_the_button_text() -> None:
    deps = _deps()
    muted = await say("mute payments/payments-2:memory_leak 1h", deps)
    assert not muted.error
    assert muted.text == (
        "Muted payments/payments-2:memory_leak for 1h, until 11:20 UTC: matching alerts are "
        "tracked but not posted; firing now: a-1."
    )
    assert deps.alerts.is_muted(("payments", "payments-2", "memory_leak"), at(21))
    assert not deps.alerts.is_muted(("checkout", "co-1", "memory_leak"), at(21))
    assert not deps.alerts.is_muted(("payments", "payments-2", "memory_leak"), at(81))
    unmuted = await say("unmute payments/payments-2:memory_leak", deps)
    assert unmuted.text.startswith("Unmuted payments/payments-2:memory_leak")
    assert not deps.alerts.is_muted(("payments", "payments-2", "memory_leak"), at(21))
    again = await say("unmute payments/payments-2:memory_leak", deps)
    assert again.error and again.text == (
        "Nothing is muted as 'payments/payments-2:memory_leak' (muted: none)."
    )


async def test_mute_errors_are_one_line() -> None:
    deps = _deps()
    cases = {
        "mute payments": "Usage: `mute",
        "mute payments soon": "'soon' is not a mute duration: expected a duration such as 30s",
        "mute payments 0s": "A mute lasts between 1s and 30d; got 0s.",
        "mute payments 90d": "A mute lasts between 1s and 30d; got 90d.",
        "mute a/b/c 1h": "'a/b/c' is not a selector",
        "unmute a:b:c": "'a:b:c' is not a selector",
    }
    for text, start in cases.items():
        reply = await say(text, deps)
        assert reply.error and reply.text.startswith(start), (text, reply.text)
        assert "\n" not in reply.text
    assert deps.alerts.mutes() == []


async def test_buttons_on_an_alert_message_dispatch_to_these_commands() -> None:
    from handlers import alerts

    deps = Deps(detect=lambda now: [detection(0)], clock=lambda: T0)
    ((_, message),) = await alerts.check(ChatRequest("alerts"), deps)
    buttons = next(p for p in message.parts if isinstance(p, Buttons)).buttons
    assert [b.label for b in buttons] == ["Acknowledge", "Mute 1h", "Explain more", "Resolve"]
    assert message.refs == ("alert:a-1",)
    replies = {}
    for button in buttons:
        replies[button.label] = reply = await say(button.command, deps)
        assert not reply.error, (button.command, reply.text)
    alert = deps.alerts.find("a-1")
    assert alert is not None and alert.acked_by == "ana" and alert.resolved_by == "ana"
    assert deps.alerts.get("a-1") is None  # resolved: no longer firing
    assert deps.alerts.is_muted(("payments", "payments-2", "memory_leak"), T0)
    (ack,) = replies["Acknowledge"].amends
    assert ack.ref == "alert:a-1" and not ack.close and "acknowledged by ana" in ack.status
    (done,) = replies["Resolve"].amends
    assert done.ref == "alert:a-1" and done.close and "resolved by ana" in done.status
    assert replies["Explain more"].text.startswith("a-1 [warning] payments/payments-2: memory_leak")


async def test_a_resolved_alert_that_is_still_seen_fires_again_as_flapping() -> None:
    from handlers import alerts

    deps = Deps(detect=lambda now: [detection(0)], clock=lambda: T0)
    await alerts.check(ChatRequest("alerts"), deps)
    reply = await say("resolve a-1", deps)
    assert reply.text.startswith("a-1 (payments/payments-2: memory_leak) is resolved by ana")
    assert "No firing alert" in (await say("resolve a-1", deps)).text
    deps.clock = lambda: at(2)
    deps.detect = lambda now: [detection(2)]
    ((_, again),) = await alerts.check(ChatRequest("alerts"), deps)
    assert "again" in again.text and again.refs == ("alert:a-1",)
    alert = deps.alerts.get("a-1")
    assert alert is not None and alert.flaps == 1 and alert.resolved_by is None


async def test_a_second_ack_adds_no_status_line_and_mute_amends_the_alerts_it_silences() -> None:
    deps = _deps()
    first = await say("ack a-1", deps)
    assert len(first.amends) == 1
    again = await say("ack a-1", deps, user="bob")
    assert again.text.startswith("a-1 was already acknowledged by ana at") and not again.amends
    muted = await say("mute payments 1h", deps, user="bob")
    (amend,) = muted.amends
    assert amend.ref == "alert:a-1" and amend.status.startswith("payments muted by bob until")
    assert not amend.close
