"""A loopback Discord: the REST API (v10) and the gateway that discord.py's own client talks to,
unmodified, over TLS on 127.0.0.1.

A client built with ``connector()`` resolves discord.com and gateway.discord.gg to this server
(and accepts its self-signed certificate). One guild, "Acme", with #vigil-alerts, #vigil and
#random; users ana (role oncall) and bob; the bot. The stand-in records every REST call
(``calls``) and the IDENTIFY it was sent, keeps the messages it was sent (edits keep what they do
not change, as Discord does), and sends gateway events on request: ``message`` (a user's
message), ``slash`` and ``press`` (interactions, answered through the interaction endpoints).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

TOKEN = "vigil-test-token"
PERMISSIONS = "2248473465835073"  # what a server admin's bot role typically carries
EPHEMERAL = 64


class LoopbackResolver(AbstractResolver):
    """Every host name resolves to the stand-in."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@dataclass
class Call:
    method: str
    path: str
    body: Any = None  # the JSON body (``payload_json`` of a multipart one)
    files: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class DiscordStandIn:
    def __init__(self, certfile: str, keyfile: str) -> None:
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(certfile, keyfile)
        self.app_id = self.new_id()
        self.bot = self._user("Vigil", bot=True)
        self.bot["id"] = str(self.app_id)
        self.guild_id = self.new_id()
        self.oncall = self._role("oncall")
        self.users = {name: self._user(name) for name in ("ana", "bob")}
        self.roles = {"ana": [self.oncall["id"]], "bob": []}
        self.channels = {
            name: self._channel(name, position)
            for position, name in enumerate(("vigil-alerts", "vigil", "random"))
        }
        self.dm_id = str(self.new_id())  # the direct-message channel of a user and the bot
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.unknown: list[Call] = []  # calls to routes the stand-in does not know (404)
        self.identify: dict[str, Any] | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}  # guild id ("" global) -> commands
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> its interaction
        self.sockets: list[web.WebSocketResponse] = []
        self.identified = asyncio.Event()
        self._seq = itertools.count(1)
        self.port = 0
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(resolver=LoopbackResolver(self.port), ssl=False)

    # ----------------------------------------------------------------------- the world

    def new_id(self) -> int:
        return next(self._ids)

    def _user(self, name: str, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(self.new_id()),
            "username": name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
        }

    def _role(self, name: str, *, default: bool = False, tags: Any = None) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": str(self.guild_id if default else self.new_id()),
            "name": name,
            "color": 0,
            "hoist": False,
            "position": 0 if default else 1,
            "permissions": PERMISSIONS,
            "managed": tags is not None,
            "mentionable": False,
            "flags": 0,
        }
        if tags is not None:
            role["tags"] = tags
        return role

    def _channel(self, name: str, position: int) -> dict[str, Any]:
        return {
            "id": str(self.new_id()),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _member(self, user: dict[str, Any], roles: list[str]) -> dict[str, Any]:
        return {
            "user": user,
            "roles": roles,
            "joined_at": _now(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }

    def guild_payload(self) -> dict[str, Any]:
        roles = [
            self._role("@everyone", default=True),
            self.oncall,
            self._role("Vigil", tags={"bot_id": self.bot["id"]}),
        ]
        return {
            "id": str(self.guild_id),
            "name": "Acme",
            "owner_id": self.users["ana"]["id"],
            "roles": roles,
            "channels": list(self.channels.values()),
            "threads": [],
            "members": [self._member(self.bot, [roles[2]["id"]])],
            "member_count": 3,
            "unavailable": False,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "joined_at": _now(),
            "afk_timeout": 300,
            "nsfw_level": 0,
        }

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        body: dict[str, Any],
        attachments: list[str],
        **extra: Any,
    ) -> dict[str, Any]:
        mid = str(self.new_id())
        message: dict[str, Any] = {
            "id": mid,
            "channel_id": channel_id,
            "guild_id": str(self.guild_id),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(self.new_id()),
                    "filename": name,
                    "size": 1,
                    "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{name}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/{name}",
                    "content_type": "image/png",
                }
                for name in attachments
            ],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
            **extra,
        }
        if body.get("message_reference"):
            message["type"] = 19
            message["message_reference"] = body["message_reference"]
        self.messages[mid] = message
        return message

    def in_channel(self, name: str) -> list[dict[str, Any]]:
        """The messages in a channel (or thread, by id), oldest first."""
        cid = self.channels[name]["id"] if name in self.channels else name
        return [m for m in self.messages.values() if m["channel_id"] == cid]

    # ----------------------------------------------------------------------- gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45_000}})
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            if payload["op"] == 1:
                await ws.send_json({"op": 11})
            elif payload["op"] == 2:
                self.identify = payload["d"]
                if payload["d"].get("token") != TOKEN:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                await self._send(
                    ws,
                    "READY",
                    {
                        "v": 10,
                        "user": self.bot,
                        "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                        "session_id": "session",
                        "resume_gateway_url": "wss://gateway.discord.gg",
                        "application": {"id": str(self.app_id), "flags": 0},
                    },
                )
                await self._send(ws, "GUILD_CREATE", self.guild_payload())
                self.identified.set()
        return ws

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Any) -> None:
        await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def dispatch(self, event: str, data: Any) -> None:
        for ws in self.sockets:
            if not ws.closed:
                await self._send(ws, event, data)

    async def message(
        self, text: str, channel: str = "vigil", user: str = "ana", *, mentions_bot: bool = False
    ) -> dict[str, Any]:
        """A user's message, as MESSAGE_CREATE (``channel="dm"``: a direct message)."""
        if channel == "dm":
            message = self._message(self.dm_id, self.users[user], {"content": text}, [])
            del message["guild_id"]
            await self.dispatch("MESSAGE_CREATE", message)
            return message
        cid = self.channels[channel]["id"] if channel in self.channels else channel
        message = self._message(cid, self.users[user], {"content": text}, [])
        message["mentions"] = [self.bot] if mentions_bot else []
        member = self._member(self.users[user], self.roles[user])
        del member["user"]
        await self.dispatch("MESSAGE_CREATE", {**message, "member": member})
        return message

    def _interaction(
        self, kind: int, channel_id: str, user: str, data: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        token = f"token-{self.new_id()}"
        channel = next(
            (c for c in self.channels.values() if c["id"] == channel_id),
            {"id": channel_id, "type": 11, "guild_id": str(self.guild_id)},
        )
        interaction = {
            "id": str(self.new_id()),
            "application_id": str(self.app_id),
            "type": kind,
            "token": token,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": channel_id,
            "channel": channel,
            "member": {
                **self._member(self.users[user], self.roles[user]),
                "permissions": PERMISSIONS,
            },
            "data": data,
            "app_permissions": PERMISSIONS,
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10_485_760,
            **extra,
        }
        self.interactions[token] = {
            **interaction,
            "responses": [],  # the bodies of the callbacks
            "original": None,  # the deferred placeholder, then the first followup
            "followups": [],  # the messages the followups made
        }
        return interaction

    async def slash(
        self, sub: str, channel: str = "vigil", user: str = "ana", **options: str
    ) -> dict[str, Any]:
        """``/vigil SUB option=value`` as INTERACTION_CREATE; returns its record (``responses``
        and the ``original`` message)."""
        commands = self.commands.get(str(self.guild_id)) or self.commands.get("") or []
        vigil = next(c for c in commands if c["name"] == "vigil")
        data = {
            "id": vigil["id"],
            "name": "vigil",
            "type": 1,
            "guild_id": str(self.guild_id),
            "options": [
                {
                    "name": sub,
                    "type": 1,
                    "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
                }
            ],
        }
        interaction = self._interaction(2, self.channels[channel]["id"], user, data)
        self.interactions[interaction["token"]]["sent_at"] = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", interaction)
        return self.interactions[interaction["token"]]

    async def press(
        self, message: dict[str, Any], custom_id: str, user: str = "ana"
    ) -> dict[str, Any]:
        """A press of the button ``custom_id`` on ``message``, as INTERACTION_CREATE."""
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(
            3, message["channel_id"], user, data, message=self.messages[message["id"]]
        )
        await self.dispatch("INTERACTION_CREATE", interaction)
        return self.interactions[interaction["token"]]

    # ----------------------------------------------------------------------- REST

    async def _body(self, request: web.Request) -> tuple[Any, list[str]]:
        if request.content_type == "multipart/form-data":
            body: Any = None
            files: list[str] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    await part.read()
                    files.append(part.filename or "")
            return body, files
        if request.can_read_body:
            return await request.json(), []
        return None, []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body, files = await self._body(request)
        self.calls.append(Call(request.method, path, body, files, dict(request.query)))
        if request.headers.get("Authorization") != f"Bot {TOKEN}" and not path.startswith(
            ("/interactions/", "/webhooks/")
        ):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        for pattern, method, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                result = await handler(body or {}, files, *match.groups())
                if result is None:
                    return web.Response(status=204)
                return _json(result)
        self.unknown.append(self.calls[-1])
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            (r"/users/@me", "GET", self._me),
            (r"/oauth2/applications/@me", "GET", self._application),
            (r"/applications/(\d+)/guilds/(\d+)/commands", "PUT", self._put_commands),
            (r"/applications/(\d+)/commands", "PUT", self._put_global_commands),
            (r"/channels/(\d+)/typing", "POST", self._nothing),
            (r"/channels/(\d+)/messages", "POST", self._post_message),
            (r"/channels/(\d+)/messages/(\d+)", "GET", self._get_message),
            (r"/channels/(\d+)/messages/(\d+)", "PATCH", self._edit_message),
            (r"/channels/(\d+)/messages/(\d+)/threads", "POST", self._start_thread),
            (r"/interactions/(\d+)/([^/]+)/callback", "POST", self._callback),
            (r"/webhooks/(\d+)/([^/]+)", "POST", self._followup),
            (r"/webhooks/(\d+)/([^/]+)/messages/@original", "PATCH", self._edit_original),
            (r"/webhooks/(\d+)/([^/]+)/messages/@original", "DELETE", self._delete_original),
        ]

    async def _me(self, body: Any, files: list[str]) -> Any:
        return self.bot

    async def _application(self, body: Any, files: list[str]) -> Any:
        return {
            "id": str(self.app_id),
            "name": "Vigil",
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self.users["ana"],
            "team": None,
        }

    async def _put_commands(self, body: Any, files: list[str], app: str, guild: str) -> Any:
        stored = [
            {
                **c,
                "id": str(self.new_id()),
                "application_id": app,
                "guild_id": guild,
                "version": "1",
            }
            for c in body
        ]
        self.commands[guild] = stored
        return stored

    async def _put_global_commands(self, body: Any, files: list[str], app: str) -> Any:
        stored = [
            {**c, "id": str(self.new_id()), "application_id": app, "version": "1"} for c in body
        ]
        self.commands[""] = stored
        return stored

    async def _nothing(self, body: Any, files: list[str], *args: str) -> Any:
        return None

    async def _post_message(self, body: Any, files: list[str], channel_id: str) -> Any:
        return self._message(channel_id, self.bot, body, files)

    async def _get_message(self, body: Any, files: list[str], channel_id: str, mid: str) -> Any:
        return self.messages[mid]

    async def _edit_message(self, body: Any, files: list[str], channel_id: str, mid: str) -> Any:
        changes = {k: v for k, v in body.items() if k != "allowed_mentions"}
        self.messages[mid] = {**self.messages[mid], **changes, "edited_timestamp": _now()}
        return self.messages[mid]

    async def _start_thread(self, body: Any, files: list[str], channel_id: str, mid: str) -> Any:
        thread = {
            "id": mid,
            "guild_id": str(self.guild_id),
            "parent_id": channel_id,
            "owner_id": self.bot["id"],
            "name": body["name"],
            "type": 11,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": _now(),
                "locked": False,
            },
        }
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def _callback(self, body: Any, files: list[str], iid: str, token: str) -> Any:
        record = self.interactions[token]
        record["responses"].append(body)
        flags = int((body.get("data") or {}).get("flags") or 0)
        if body["type"] == 5:  # deferred: a "thinking..." placeholder
            record["original"] = self._message(
                record["channel_id"], self.bot, {"content": "", "flags": flags | 128}, []
            )
        return {
            "interaction": {
                "id": iid,
                "type": record["type"],
                "response_message_loading": body["type"] == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }

    async def _followup(self, body: Any, files: list[str], app: str, token: str) -> Any:
        record = self.interactions[token]
        original = record["original"]
        if original is not None and original["flags"] & 128:  # the first one resolves it
            original.update(
                {k: v for k, v in body.items() if k in ("content", "embeds", "components")}
            )
            original["flags"] &= ~128
            record["followups"].append(original)
            return original
        message = self._message(
            record["channel_id"], self.bot, body, files, webhook_id=str(self.app_id)
        )
        record["followups"].append(message)
        return message

    async def _edit_original(self, body: Any, files: list[str], app: str, token: str) -> Any:
        record = self.interactions[token]
        target = record["original"] or self.messages[record["message"]["id"]]
        changes = {k: v for k, v in body.items() if k != "allowed_mentions"}
        target.update({**changes, "edited_timestamp": _now()})
        return target

    async def _delete_original(self, body: Any, files: list[str], app: str, token: str) -> Any:
        record = self.interactions[token]
        if record["original"] is not None:
            self.messages.pop(record["original"]["id"], None)
            record["original"] = None
        return None


def _json(data: Any, status: int = 200) -> web.Response:
    """As Discord answers: ``Content-Type: application/json``, no charset (discord.py reads the
    body as JSON only then)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


async def settle(condition: Any, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (the client answers on its own tasks)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
