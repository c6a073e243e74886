"""Who may use the web console, and which requests it believes.

- With ``VIGIL_WEB_TOKEN`` set, every console route needs it: opening the page with
  ``?token=...`` sets an HttpOnly, SameSite=Strict cookie (derived from the token, not the token
  itself); API clients may send ``Authorization: Bearer TOKEN`` instead. Compared in constant
  time.
- Without a token (bound to loopback), the ``Host`` header must name this machine: a web page
  elsewhere that points its own name at 127.0.0.1 (DNS rebinding) gets nothing.
- A POST must be JSON (a cross-site HTML form cannot send that) and, when the browser says where
  it comes from (``Origin``), come from this host.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from yarl import URL

COOKIE = "vigil_console"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Gate:
    def __init__(self, token: str | None, bind_host: str) -> None:
        self._token = token
        self._cookie = (
            hmac.new(token.encode(), b"vigil web console", hashlib.sha256).hexdigest()
            if token
            else None
        )
        self._hosts = LOCAL_HOSTS | {bind_host.strip("[]")}

    @property
    def needs_token(self) -> bool:
        return self._token is not None

    def token_matches(self, value: str) -> bool:
        return self._token is not None and hmac.compare_digest(value.encode(), self._token.encode())

    def allows(self, request: web.Request) -> bool:
        """Whether ``request`` may see the console."""
        if self._token is None:
            return (request.url.host or "").strip("[]") in self._hosts
        assert self._cookie is not None
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self._cookie.encode()):
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    def set_cookie(self, response: web.StreamResponse, secure: bool) -> None:
        assert self._cookie is not None
        response.set_cookie(
            COOKIE, self._cookie, httponly=True, samesite="Strict", secure=secure, path="/"
        )


def same_origin(request: web.Request) -> bool:
    """``Origin``, when sent, names this host (and this port, when both say one)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    url = URL(origin)
    if not url.is_absolute() or url.host is None:
        return False
    here = request.url
    if url.host != here.host:
        return False
    return (
        url.explicit_port is None
        or here.explicit_port is None
        or (url.explicit_port == here.explicit_port)
    )
