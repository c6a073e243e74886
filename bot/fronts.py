"""Builds and starts the chat fronts a process serves, and the HTTP server they share.

Slack when ``SLACK_BOT_TOKEN`` is set (Socket Mode with ``SLACK_APP_TOKEN``, else HTTP mode at
``/slack/events``), Discord when ``DISCORD_TOKEN`` is set, the web console when
``VIGIL_WEB_CONSOLE`` says so (by default: when neither platform is configured) or the demo asks.
Each front is a sink of the app's ``ChannelHub``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from bot.chat import ChatFront, Conversation
from bot.http import HttpServer

log = logging.getLogger(__name__)


@dataclass
class Fronts:
    http: HttpServer | None = None
    fronts: list[ChatFront] = field(default_factory=list)

    def get(self, platform: str) -> ChatFront | None:
        return next((f for f in self.fronts if f.platform == platform), None)

    async def stop(self) -> None:
        for front in reversed(self.fronts):
            try:
                await front.stop()
            except Exception:
                log.exception("stopping the %s front failed", front.platform)
        if self.http is not None:
            await self.http.stop()


async def start_fronts(
    app: Conversation,
    web: bool | None = None,
    port: int | None = None,
    platforms: bool = True,
    serve_http: bool = False,
    listen: bool = True,
) -> Fronts:
    """Build, wire and start the fronts; ``web`` overrides ``VIGIL_WEB_CONSOLE`` and ``port``
    ``VIGIL_HTTP_PORT``; ``platforms=False`` leaves Slack and Discord out (the demo must not
    post its made-up incidents to a real workspace). Raises ``ChatError`` (one line) when a
    platform refuses, ``OSError`` when the port is taken; what had started is stopped first.
    The HTTP server runs whenever a front does, and with ``serve_http`` even without one
    (``vigil run``: ``/metrics`` and the health checks). ``listen=False``: Slack and Discord
    only post (alerts, digests, notices) and answer nothing (``VIGIL_ROLE=scheduler``)."""
    env = app.settings.env
    web = env.web_console_on() if web is None else web
    slack = platforms and env.SLACK_BOT_TOKEN is not None
    discord = platforms and env.DISCORD_TOKEN is not None
    running = Fronts()
    if web or slack or discord or serve_http:
        running.http = HttpServer(
            env.VIGIL_HTTP_HOST, env.VIGIL_HTTP_PORT if port is None else port
        )
    # routes are added while the fronts are built, before the server starts
    if slack:
        from bot.slackbot.front import SlackFront

        running.fronts.append(SlackFront(app, running.http, listen=listen))
    if discord:
        from bot.discordbot.front import DiscordFront

        running.fronts.append(DiscordFront(app, listen=listen))
    if web:
        from bot.web.front import WebConsole

        assert running.http is not None
        running.fronts.append(WebConsole(app, running.http))
    try:
        if running.http is not None:
            await running.http.start()
        for front in running.fronts:
            await front.start()
            app.hub.add_sink(front.post)
            if running.http is not None:
                running.http.checks[front.platform] = front.health
    except BaseException:
        with contextlib.suppress(Exception):
            await running.stop()
        raise
    return running
