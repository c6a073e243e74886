"""The scheduler role's Slack front: it posts alerts, digests and notices, and answers nothing
(no events route, no Socket Mode), so chat workers alone answer."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from bot.app import VigilApp
from bot.config import Settings
from bot.fronts import start_fronts
from handlers.types import Reply
from tests.bot.slackbot.conftest import APP_TOKEN, slack_env
from tests.standins.slack_api import SlackStandIn


async def test_a_post_only_front_posts_and_takes_no_events(
    slack: SlackStandIn, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(**slack_env(slack, SLACK_APP_TOKEN=APP_TOKEN))
    app = VigilApp(settings, knowledge=False)
    fronts = await start_fronts(app, web=False, serve_http=True, listen=False)
    try:
        front = fronts.get("slack")
        assert front is not None and front.health()["mode"] == "post"
        assert front.health()["ok"]
        assert fronts.get("web") is None
        await app.post("alerts", Reply("payments p99 is 4x its normal"))
        assert fronts.http is not None
        url = f"{fronts.http.url}/slack/events"
        async with aiohttp.ClientSession() as session, session.post(url, data=b"{}") as response:
            assert response.status == 404
    finally:
        await fronts.stop()
    posted = [c.params for c in slack.called("chat.postMessage")]
    assert len(posted) == 1 and "4x its normal" in str(posted[0])
    assert not slack.called("apps.connections.open")  # no Socket Mode connection
