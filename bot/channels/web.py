"""The ASGI app for platform callbacks (Starlette, served by uvicorn).

Routes: ``/healthz``, ``/wechat/{id}`` (Official Account, :mod:`bot.channels.wechat`),
``/wecom/{id}`` (WeCom app, :mod:`bot.channels.wecom`), where ``id`` is the community id, and the admin
console under ``/admin/`` (:mod:`console.web`).

``LinliApp.start()`` starts it when WeChat or WeCom is configured::

    server = WebServer(app, channels, host=settings.host, port=settings.port)
    await server.start()      # returns once uvicorn listens
    ...
    await server.stop()

or ``server = await serve(app, host, port)`` (channels taken from the app).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from bot.channels.wechat import WeChatChannel
from bot.channels.wecom import WeComChannel

if TYPE_CHECKING:  # pragma: no cover
    from bot.app import LinliApp

log = logging.getLogger("linli.web")


def _channels_of(app: Any) -> list[Any]:
    found = getattr(app, "channels", None)
    if isinstance(found, dict):
        found = list(found.values())
    return list(found or [])


def build_asgi_app(app: LinliApp, channels: Iterable[Any] | None = None) -> Starlette:
    """The Starlette app serving the callbacks of the given (or the app's) WeChat/WeCom channels."""
    chosen = list(channels) if channels is not None else _channels_of(app)
    wechat = next((c for c in chosen if isinstance(c, WeChatChannel)), None)
    wecom = next((c for c in chosen if isinstance(c, WeComChannel)), None)

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {"ok": True, "wechat": wechat is not None, "wecom": wecom is not None}
        )

    async def wechat_callback(request: Request) -> Response:
        if wechat is None:
            return PlainTextResponse("WeChat is not configured", status_code=404)
        return await wechat.handle(request, request.path_params["community"])

    async def wecom_callback(request: Request) -> Response:
        if wecom is None:
            return PlainTextResponse("WeCom is not configured", status_code=404)
        return await wecom.handle(request, request.path_params["community"])

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/wechat/{community}", wechat_callback, methods=["GET", "POST"]),
        Route("/wecom/{community}", wecom_callback, methods=["GET", "POST"]),
    ]
    if getattr(app, "db", None) is not None and getattr(app, "core", None) is not None:
        from console.web import console_app

        routes.append(Route("/admin", lambda request: RedirectResponse("/admin/", status_code=307)))
        routes.append(Mount("/admin", app=console_app(app)))
    return Starlette(routes=routes)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside Linli's event loop: the application owns SIGINT/SIGTERM, not uvicorn."""

    def capture_signals(self):  # type: ignore[override]
        return contextlib.nullcontext()


class WebServer:
    """uvicorn serving :func:`build_asgi_app` inside the running event loop."""

    def __init__(
        self, app: LinliApp, channels: Iterable[Any] | None = None, host: str | None = None,
        port: int | None = None,
    ) -> None:
        settings = getattr(app, "settings", None)
        self.host = host or getattr(settings, "host", "127.0.0.1")
        self.port = port if port is not None else getattr(settings, "port", 8080)
        self.asgi = build_asgi_app(app, channels)
        config = uvicorn.Config(
            self.asgi, host=self.host, port=self.port, log_level="warning", access_log=False,
            lifespan="off", timeout_graceful_shutdown=5,
        )
        self.server = _EmbeddedServer(config)
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful with ``port=0``)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.port

    def _bind(self) -> socket.socket:
        """Bind here, so a busy port is a clear ``OSError`` and not uvicorn's ``sys.exit``."""
        family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"cannot listen on {self.host}:{self.port} for WeChat/WeCom callbacks: {exc.strerror}"
                " (choose another with --port / LINLI_PORT)"
            ) from None
        sock.set_inheritable(True)
        return sock

    async def start(self) -> None:
        self._socket = self._bind()
        self._task = asyncio.create_task(self.server.serve(sockets=[self._socket]))
        while not self.server.started:
            if self._task.done():
                self._task.result()  # re-raise why it could not start (port in use …)
                raise RuntimeError(f"the callback server on {self.host}:{self.port} stopped at once")
            await asyncio.sleep(0.02)
        log.info("web server (console /admin/, WeChat/WeCom callbacks) on http://%s:%s", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):  # pragma: no cover
            self._task.cancel()
        self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None


async def serve(app: LinliApp, host: str | None = None, port: int | None = None,
                channels: Iterable[Any] | None = None) -> WebServer:
    """Start the callback server and return it (``await server.stop()`` to stop)."""
    server = WebServer(app, channels, host=host, port=port)
    await server.start()
    return server
