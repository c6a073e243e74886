"""The alerts job and the chat platforms: a message no platform took stays in the outbox for the
next run, one that went out is counted in /metrics."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.app import VigilApp
from bot.channels import ChannelHub, DeliveryError
from bot.config import Settings
from bot.jobs import job_table
from handlers.types import Reply
from tests.bot.test_metrics import value
from tests.handlers.test_alertbook import T0, detection


async def test_must_deliver_fails_only_when_every_sink_failed() -> None:
    hub = ChannelHub()
    got: list[str] = []

    async def works(channel: str, reply: Reply) -> None:
        got.append(reply.text)

    async def broken(channel: str, reply: Reply) -> None:
        raise ConnectionError("slack is down")

    await hub.post("alerts", Reply("no sink at all"), must_deliver=True)  # nowhere to go
    hub.add_sink(broken)
    await hub.post("alerts", Reply("logged and dropped"))  # the default: never raises
    with pytest.raises(DeliveryError, match="#alerts"):
        await hub.post("alerts", Reply("kept"), must_deliver=True)
    hub.add_sink(works)
    await hub.post("alerts", Reply("one platform took it"), must_deliver=True)
    assert got == ["one platform took it"]


async def test_an_alert_no_platform_took_goes_out_on_the_next_run(
    make_settings: Callable[..., Settings],
) -> None:
    app = VigilApp(make_settings(), knowledge=False)
    app.deps.detect = lambda now: [detection(0)]
    app.deps.clock = lambda: T0
    posted: list[tuple[str, str]] = []
    down = True

    async def platform(channel: str, reply: Reply) -> None:
        if down:
            raise ConnectionError("slack is down")
        posted.append((channel, reply.text))

    app.hub.add_sink(platform)
    alerts_job = job_table(app)["alerts"]
    with pytest.raises(DeliveryError):
        await alerts_job({})
    assert posted == [] and app.deps.alerts is not None and app.deps.alerts.pending()
    text = app.metrics.render().decode()
    assert value(text, "vigil_alerts_sent_total", channel="alerts") is None
    # still down, and a second host goes bad: recorded all the same, kept for later
    app.deps.detect = lambda now: [detection(0), detection(0, host="payments-1")]
    with pytest.raises(DeliveryError):
        await alerts_job({})
    assert len(app.deps.alerts.active()) == 2 and len(app.deps.alerts.pending()) == 2
    down = False
    await alerts_job({})  # nothing new, but both kept messages go out, oldest first
    assert [channel for channel, _ in posted] == ["alerts", "alerts"]
    assert "payments-2" in posted[0][1] and "payments-1" in posted[1][1]
    assert not app.deps.alerts.pending()
    text = app.metrics.render().decode()
    assert value(text, "vigil_alerts_sent_total", channel="alerts") == 2
    await alerts_job({})
    assert len(posted) == 2  # never twice


async def test_an_alert_with_no_platform_at_all_is_not_counted_as_sent(
    make_settings: Callable[..., Settings],
) -> None:
    app = VigilApp(make_settings(), knowledge=False)
    app.deps.detect = lambda now: [detection(0)]
    app.deps.clock = lambda: T0
    await job_table(app)["alerts"]({})  # no front, no console: nowhere to post
    text = app.metrics.render().decode()
    assert value(text, "vigil_alerts_sent_total", channel="alerts") is None
    assert value(text, "vigil_alerts_open") == 1
