"""Vigil channel names <-> Slack channel ids.

channels.yml names each Vigil channel's Slack channel by name (``#vigil-alerts``) or by id
(``C0123ABCD``). Ids are taken as they are; names are looked up once at start with
``conversations.list`` (paged). A name that is not found is a warning: posts to that Vigil
channel are skipped until the next start. Incoming events carry ids, mapped back to the Vigil
name when one is configured, else kept as the Slack id.
"""

from __future__ import annotations

import logging
import re

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
PAGE = 200
MAX_PAGES = 100  # 20,000 channels: beyond that, configure ids


class SlackChannels:
    def __init__(self, configured: dict[str, str]) -> None:
        """``configured``: Vigil channel name -> Slack name (without ``#``) or id."""
        self.configured = dict(configured)
        self.ids: dict[str, str] = {
            vigil: value for vigil, value in configured.items() if CHANNEL_ID.match(value)
        }
        self.missing: list[str] = []
        self._vigil_by_id: dict[str, str] = {cid: vigil for vigil, cid in self.ids.items()}
        self._vigil_by_name: dict[str, str] = {
            value.lower(): vigil for vigil, value in configured.items() if vigil not in self.ids
        }

    async def resolve(self, client: AsyncWebClient) -> None:
        """Look the configured names up; log one warning per name not found."""
        wanted = {n: v for n, v in self._vigil_by_name.items() if v not in self.ids}
        if wanted:
            try:
                await self._list(client, wanted)
            except SlackApiError as exc:
                error = exc.response.get("error", "error")
                needed = exc.response.get("needed", "")
                log.warning(
                    "slack: cannot list channels (%s%s); give channel ids (C...) in channels.yml "
                    "or add the channels:read and groups:read scopes",
                    error,
                    f": needs {needed}" if needed else "",
                )
        self.missing = [v for v in self.configured if v not in self.ids]
        for vigil in self.missing:
            log.warning(
                "slack: channel #%s (Vigil channel %s) was not found; posts to it are skipped. "
                "Check the name in channels.yml, or invite the bot to that private channel",
                self.configured[vigil],
                vigil,
            )

    async def _list(self, client: AsyncWebClient, wanted: dict[str, str]) -> None:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=PAGE,
                cursor=cursor,
            )
            for channel in page.get("channels") or []:
                vigil = wanted.pop(str(channel.get("name", "")).lower(), None)
                if vigil is not None:
                    self.ids[vigil] = channel["id"]
                    self._vigil_by_id[channel["id"]] = vigil
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not wanted or not cursor:
                return

    def id_for(self, vigil: str) -> str | None:
        """The Slack channel id that Vigil channel ``vigil`` posts to; None when it has none."""
        return self.ids.get(vigil)

    def vigil_name(self, channel_id: str, channel_name: str | None = None) -> str:
        """The Vigil channel a Slack channel is, else the Slack id itself. By id; by
        ``channel_name`` (a slash command's) only for a configured name that did not resolve
        to an id: once it did, another channel under that name (the old one renamed, a new one
        made with its name) is not that Vigil channel."""
        if channel_id in self._vigil_by_id:
            return self._vigil_by_id[channel_id]
        vigil = self._vigil_by_name.get(channel_name.lower()) if channel_name else None
        if vigil is not None and vigil not in self.ids:
            return vigil
        return channel_id
