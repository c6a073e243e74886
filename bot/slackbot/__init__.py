"""The Slack front: slack-bolt in HTTP mode (``/slack/events`` on Vigil's HTTP server) or Socket
Mode (``SLACK_APP_TOKEN``), answering ``/vigil``, mentions, thread follow-ups, direct messages
and alert buttons with Block Kit (``bot.render.slack``), and posting what jobs send.

- ``front``: ``SlackFront``, the Bolt app and its listeners, start/stop/health.
- ``delivery``: posting rendered replies (``chat.postMessage``, ``response_url``, ephemeral
  messages, charts with files upload v2) and amending earlier messages (``chat.update``).
- ``channels``: Vigil channel names <-> Slack channel ids.
- ``history``: the messages of the thread a request was made in (``ChatRequest.history``, read
  with ``conversations.replies`` when a command asks).
- ``incoming``: Slack's markup turned back into text as typed; which thread follow-ups are for
  Vigil (a command or a question) and which are chatter.
- ``texts``: what the front itself says to users.

The Slack app it expects: a ``/vigil`` slash command; interactivity on; the bot events
``app_mention``, ``message.channels``, ``message.groups`` and ``message.im``; the bot scopes
``commands``, ``app_mentions:read``, ``chat:write`` (``chat:write.public`` to post in public
channels it was not invited to), ``channels:read`` and ``groups:read`` (channel names),
``channels:history``, ``groups:history`` and ``im:history`` (follow-ups, direct messages),
``files:write`` (charts). HTTP mode: every request URL is ``https://HOST/slack/events``.
Socket Mode: an app-level token with ``connections:write``.
"""
