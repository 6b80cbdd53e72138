"""`python -m ganlab.ui.serve [--server.port 8501 ...]` (what `make run` runs): the dashboard, for this machine only.

Binding to 127.0.0.1 keeps other machines out, but not other web sites: a page on evil.example can
point its own name at 127.0.0.1 (DNS rebinding) and then reach the dashboard as its "same origin",
WebSocket included, and drive training from a tab the person forgot. What gives it away is the
Host header: the browser sends the name it used. So every HTTP request and WebSocket upgrade must
name a loopback host (localhost, 127.0.0.1, [::1], any port) or the address the person chose to
share on, and a WebSocket upgrade must come from the page's own origin.

Streamlit 1.67 checks the Host only on its WebSocket and only when server.allowedHosts is set
(empty by default: any Host), never on HTTP, and its WebSocket origin check passes any page whose
origin equals the Host it sent, which a rebinding page does. So the check is an ASGI middleware,
installed through st.App's documented `middleware=` in front of all of Streamlit's routes.

Sharing: `--server.address 0.0.0.0` (every interface) turns the Host check off, a specific address
adds that address, and `server.allowedHosts` names more hosts (or "*" for any). The WebSocket
origin check stays on; `server.corsAllowedOrigins` lists other origins allowed to connect.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

APP = Path(__file__).resolve().parents[2] / "app.py"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::"})


def hostname(host_header: Optional[str]) -> Optional[str]:
    """The host name in a Host header ('localhost:8501' -> 'localhost', '[::1]:8501' -> '::1'); None if malformed."""
    if not host_header:
        return None
    try:
        parts = urlsplit(f"//{host_header}")
        _ = parts.port  # a port that is not a number in range is malformed
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname.rstrip(".") if parts.hostname else None


def _matches(name: str, pattern: str) -> bool:
    return name.endswith(pattern[1:]) if pattern.startswith("*.") else name == pattern


@dataclass(frozen=True)
class HostPolicy:
    """Which Host names and WebSocket origins the served app answers to."""

    hosts: Optional[frozenset[str]]  # None: any Host (shared on every interface, no names given)
    origins: frozenset[str] = frozenset()  # origins allowed to open a WebSocket besides the page's own

    @classmethod
    def from_settings(cls, address: Optional[str], allowed_hosts: Iterable[str] = (),
                      cors_origins: Iterable[str] = ()) -> HostPolicy:
        named = {h.strip().lower().rstrip(".") for h in allowed_hosts if h and h.strip()}
        origins = frozenset(o.strip() for o in cors_origins if o and o.strip())
        address = (address or "").strip().lower().strip("[]")
        if "*" in named or (not named and address in EVERY_INTERFACE):
            return cls(None, origins)
        extra = set() if address in EVERY_INTERFACE else {address}
        return cls(frozenset(LOOPBACK | named | extra), origins)

    @classmethod
    def from_streamlit_config(cls) -> HostPolicy:
        from streamlit import config

        return cls.from_settings(config.get_option("server.address"), config.get_option("server.allowedHosts") or (),
                                 config.get_option("server.corsAllowedOrigins") or ())

    def refusal(self, kind: str, host: Optional[str], origin: Optional[str]) -> Optional[str]:
        """Why a request of `kind` (http | websocket) with these headers is refused, or None to let it through."""
        if self.hosts is not None:
            name = hostname(host)
            if name is None or not any(_matches(name, p) for p in self.hosts):
                return (f"the Host {host!r:.80} is not this machine's loopback name; open the dashboard at "
                        f"http://localhost:<port>, or share it deliberately (README: Sharing the dashboard)")
        if kind == "websocket" and origin is not None and origin not in self.origins:
            if (host or "").lower() != urlsplit(origin).netloc.lower():
                return f"a WebSocket from the origin {origin!r:.80} is not from this dashboard's own page"
        return None


def _header(scope: dict[str, Any], name: bytes) -> Optional[str]:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class LocalOnly:
    """ASGI middleware: HostPolicy's refusals as 403 (HTTP) or a refused upgrade (WebSocket); the rest passes."""

    def __init__(self, app, policy: Optional[HostPolicy] = None):
        self.app, self.policy = app, policy

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if self.policy is None:  # read on the first request, once Streamlit has loaded its config files and flags
            self.policy = HostPolicy.from_streamlit_config()
        why = self.policy.refusal(kind, _header(scope, b"host"), _header(scope, b"origin"))
        if why is None:
            return await self.app(scope, receive, send)
        if kind == "websocket":
            await receive()  # websocket.connect; closing before accepting makes the server answer 403
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"ganlab refused this request: {why}\n".encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


LIST_OPTIONS = frozenset({"server.allowedHosts", "server.corsAllowedOrigins", "server.folderWatchList",
                          "server.folderWatchBlacklist"})


def _typed(value: str) -> Any:
    """A flag's text as the type `streamlit run` would give it: true/false, a whole number, or the text."""
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    try:
        return int(value)
    except ValueError:
        return value


def parse_flags(args: Sequence[str]) -> dict[str, Any]:
    """`--section.option value` or `--section.option=value` pairs (as `streamlit run` takes them) to config overrides.

    Streamlit's config is not read here (reading it before App.run makes Streamlit warn that its
    server section changed); a list option takes a repeated flag or commas.
    """
    out: dict[str, Any] = {}
    items = list(args)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--") or "." not in flag:
            raise SystemExit(f"ganlab.ui.serve: expected --section.option VALUE, got {flag!r:.80}")
        key, eq, value = flag[2:].partition("=")
        if not eq:
            if not items:
                raise SystemExit(f"ganlab.ui.serve: {flag} needs a value")
            value = items.pop(0)
        if key in LIST_OPTIONS:
            out[key] = [*out.get(key, []), *(v for v in value.split(",") if v)]
        else:
            out[key] = _typed(value)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    from starlette.middleware import Middleware
    from streamlit.starlette import App

    overrides = parse_flags(sys.argv[1:] if argv is None else argv)
    sys.argv = [str(APP)]  # App.run takes argv[0] as the launcher: app.py, so config, paths and pages match `streamlit run`
    App(APP, middleware=[Middleware(LocalOnly)]).run(config=overrides)


if __name__ == "__main__":
    main()
