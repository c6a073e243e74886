"""The one HTTP server of a Vigil process (aiohttp), on ``VIGIL_HTTP_HOST:VIGIL_HTTP_PORT``.

Fronts add their routes before ``start``: Slack events at ``/slack/events`` (HTTP mode), the web
console at ``/``. ``/healthz`` answers ``{"status": "ok", "components": {...}}`` with what each
registered component reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

HealthCheck = Callable[[], dict[str, Any]]


class HttpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.app = web.Application(client_max_size=2 * 1024 * 1024)
        self.checks: dict[str, HealthCheck] = {}
        self.app.router.add_get("/healthz", self._healthz)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::"} else self.host
        if ":" in host:  # IPv6
            host = f"[{host}]"
        return f"http://{host}:{self.port or self.requested_port}"

    async def start(self) -> None:
        """Bind and serve; raise ``OSError`` with the address when the port is taken."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(
                exc.errno,
                f"cannot listen on {self.host}:{self.requested_port} ({exc.strerror}); "
                "set VIGIL_HTTP_PORT to a free port",
            ) from exc
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.requested_port
        log.info("http server listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        components: dict[str, Any] = {}
        for name, check in self.checks.items():
            try:
                components[name] = check()
            except Exception as exc:
                components[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = all(bool(c.get("ok", True)) for c in components.values())
        return web.json_response(
            {"status": "ok" if ok else "degraded", "components": components},
            status=200 if ok else 503,
        )
