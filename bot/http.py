"""The one HTTP server of a Vigil process (aiohttp), on ``VIGIL_HTTP_HOST:VIGIL_HTTP_PORT``.

Fronts add their routes before ``start``: Slack events at ``/slack/events`` (HTTP mode), the web
console at ``/``. For operators and orchestrators:

- ``/livez`` (liveness): 200 while the process answers at all. Nothing else: a chat platform
  that is down shows below, and restarting Vigil would not bring it back.
- ``/healthz``: ``{"status": "ok", "components": {...}}`` with what each registered component
  reports; 503 when one is down.
- ``/readyz`` (readiness): 503 ``starting`` until the process says it is ready (the app started,
  the fronts connected), then as ``/healthz``.
- ``/metrics``: the process's own metrics in the Prometheus text format, when a renderer is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

HealthCheck = Callable[[], dict[str, Any]]
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.app = web.Application(client_max_size=2 * 1024 * 1024)
        self.checks: dict[str, HealthCheck] = {}
        self.ready = False
        """Set by the process once it serves: until then ``/readyz`` answers 503."""
        self.metrics: Callable[[], bytes] | None = None
        self.app.router.add_get("/livez", self._livez)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics)
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

    def _components(self) -> tuple[bool, dict[str, Any]]:
        components: dict[str, Any] = {}
        for name, check in self.checks.items():
            try:
                components[name] = check()
            except Exception as exc:
                components[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return all(bool(c.get("ok", True)) for c in components.values()), components

    async def _livez(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, components = self._components()
        return web.json_response(
            {"status": "ok" if ok else "degraded", "components": components},
            status=200 if ok else 503,
        )

    async def _readyz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.json_response({"status": "starting", "components": {}}, status=503)
        ok, components = self._components()
        return web.json_response(
            {"status": "ready" if ok else "not ready", "components": components},
            status=200 if ok else 503,
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            raise web.HTTPNotFound(text="no metrics in this process")
        # on the loop: collectors read state that the loop changes, and they are quick
        return web.Response(body=self.metrics(), headers={"Content-Type": METRICS_CONTENT_TYPE})
