"""The job kinds that ``schedules:`` in ai-config.yml may name, bound to a running app.

Each job calls the same handler a chat command would, with a synthetic request, and posts what
it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.scheduler import JobFunc
from handlers import alerts
from handlers.types import ChatRequest

if TYPE_CHECKING:
    from bot.app import VigilApp


def job_table(app: VigilApp) -> dict[str, JobFunc]:
    """Job kind -> coroutine function taking the schedule's ``args``."""

    async def alerts_job(args: Mapping[str, Any]) -> None:
        channel = str(args.get("channel") or app.settings.channels.route("alerts"))
        request = ChatRequest(text="alerts", channel=channel, platform="scheduler", user="vigil")
        reply = await alerts.check(request, app.deps)
        if reply is not None:
            await app.post(channel, reply)

    return {"alerts": alerts_job}
