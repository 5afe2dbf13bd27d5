"""What a web page may do with a port `make serve` opens: nothing, unless it is the app's own origin.

moto's server answers CORS for every origin (flask-cors, `CORS(backend_app)` in
moto/moto_server/werkzeug_app.py), so any page the developer visits could read the local Secrets Manager
(the real Gradium key, with a real key configured) at a predictable port. This WSGI middleware goes in
front of every moto server here: a request from a page of another origin is refused before moto sees it,
moto's own CORS headers are dropped, and only `allowed_origin` (the template's AllowedOrigin, which a
browser sign-in needs) gets CORS answers. A Host that is a name other than localhost is refused too (DNS
rebinding: a page of another site whose name now points at 127.0.0.1); an address is fine, so that a
device reaches it by the machine's LAN address and the Android emulator by 10.0.2.2, and so are the
`names` a guard is given (host.docker.internal for `sam local`'s containers: no web site can own it).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class OriginGuard:
    """Refuses browser requests from any origin but `allowed_origin` (None: every browser request);
    answers CORS for `allowed_origin` only."""

    def __init__(
        self,
        app: WsgiApp,
        allowed_origin: str | None = None,
        names: tuple[str, ...] = ("localhost",),
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self._app = app
        self._allowed_origin = allowed_origin
        self._names = names
        self._on_refusal = on_refusal  # told why, in one line, each time a web page is refused

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = urlsplit("//" + environ.get("HTTP_HOST", "")).hostname
        origin = environ.get("HTTP_ORIGIN")
        if not _is_address(host) and host not in self._names:
            return _refuse(
                start_response,
                f"this local endpoint answers requests to an address or {', '.join(self._names)}",
            )
        if origin is not None and origin != self._allowed_origin:
            if self._on_refusal:
                allowed = (
                    f"AllowedOrigin is {self._allowed_origin}" if self._allowed_origin else "no AllowedOrigin"
                )
                self._on_refusal(f"refused a web page of origin {origin} ({allowed})")
            return _refuse(start_response, "this local endpoint answers no web page of that origin")
        if origin is None and environ.get("HTTP_SEC_FETCH_SITE") in ("cross-site", "same-site"):
            return _refuse(start_response, "this local endpoint answers no web page")
        if origin is not None and environ["REQUEST_METHOD"] == "OPTIONS":
            start_response("204 No Content", [*_cors(origin, environ), ("Content-Length", "0")])
            return [b""]

        def respond(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            kept = [
                (name, value) for name, value in headers if not name.lower().startswith("access-control-")
            ]
            return start_response(status, kept + (_cors(origin, environ) if origin else []), *exc_info)

        return self._app(environ, respond)


def _is_address(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return True


def _cors(origin: str, environ: dict[str, Any]) -> list[tuple[str, str]]:
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
    headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    if environ["REQUEST_METHOD"] == "OPTIONS":
        headers += [("Access-Control-Allow-Methods", "GET,POST,OPTIONS"), ("Access-Control-Max-Age", "600")]
        if requested:
            headers.append(("Access-Control-Allow-Headers", requested))
    return headers


def _refuse(start_response: Callable[..., Any], message: str) -> list[bytes]:
    body = json.dumps({"message": message}).encode()
    start_response(
        "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
