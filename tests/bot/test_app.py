"""The composition root: chat goes through the router, notices reach the console channel."""

from __future__ import annotations

import io

from bot.app import VigilApp
from bot.channels import console_sink
from bot.config import Settings
from bot.scheduler import JobStats


async def test_job_failure_and_recovery_notices_reach_the_ops_console(settings: Settings) -> None:
    app = VigilApp(settings)
    out = io.StringIO()
    app.hub.add_sink(console_sink(out))
    await app._job_failed("alerts", JobStats(last_error="RuntimeError: boom"))
    await app._job_recovered("alerts", JobStats(consecutive_failures=3))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[#ops] Job `alerts` failed: RuntimeError: boom.")
    assert lines[1] == "[#ops] Job `alerts` recovered after 3 failed run(s)."


async def test_a_failing_sink_does_not_stop_the_others(settings: Settings) -> None:
    app = VigilApp(settings)

    async def broken(channel: str, reply: object) -> None:
        raise ConnectionError("slack is down")

    out = io.StringIO()
    app.hub.add_sink(broken)
    app.hub.add_sink(console_sink(out))
    await app.post("alerts", (await app.handle("help")))
    assert out.getvalue().startswith("[#alerts] Vigil answers from your own metrics")
    assert len(app.hub.history) == 1


async def test_chat_goes_through_the_router(settings: Settings) -> None:
    reply = await VigilApp(settings).handle("stauts")
    assert "Did you mean `status`?" in reply.text
