"""How the API is served (issue 9, point 7: what the benchmark's profile showed).

- The listener of ``python -m cli.api_server`` is a TCP socket whose accepted connections
  asyncio sets to ``TCP_NODELAY``. Uvicorn's own ``--workers N`` listener is not (uvicorn
  issue #3149): every keep-alive request then waited about 40 ms for the client's delayed
  ACK (``GET /api/v1/health``: 48 ms with two processes, 2.5 ms with one).
- Each API process of ``--workers N`` listens on a socket of its own (``SO_REUSEPORT``), so
  the kernel spreads connections over the processes. With uvicorn's one shared socket the
  awake process accepted them all (16 keep-alive clients: 16 connections on one process).
- Each API process runs its synchronous handlers on `Settings.effective_api_threads`
  threads: 4 on PostgreSQL (measured twice the throughput of AnyIO's 40), 40 on SQLite.
"""

from __future__ import annotations

import asyncio
import socket

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from cli.api_server import listener
from models.settings import Settings


async def _nodelay_of_accepted(sock: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Note(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Note, sock=sock)
    host, port = sock.getsockname()[:2]
    _, writer = await asyncio.open_connection(host, port)
    try:
        return await asyncio.wait_for(accepted, 10)
    finally:
        writer.close()
        server.close()


def test_connections_accepted_by_the_api_listener_send_without_delay() -> None:
    assert asyncio.run(_nodelay_of_accepted(listener("127.0.0.1", 0))) != 0


def test_connections_are_spread_over_the_processes_listeners() -> None:
    first = listener("127.0.0.1", 0, reuse_port=True)
    port = first.getsockname()[1]
    second = listener("127.0.0.1", port, reuse_port=True)
    for sock in (first, second):
        sock.listen(64)
        sock.setblocking(False)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    try:
        accepted = [_accept_all(sock) for sock in (first, second)]
    finally:
        for c in clients:
            c.close()
    assert sum(accepted) == 40
    assert min(accepted) > 0  # all 40 on one socket: chance 2**-39 if spread at random


def _accept_all(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_a_listener_bound_as_uvicorn_binds_it_would_delay_them() -> None:
    """The check above can fail: uvicorn 0.54's ``Config.bind_socket`` (protocol 0)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    assert asyncio.run(_nodelay_of_accepted(sock)) == 0


@pytest.mark.parametrize(
    ("url", "configured", "threads"),
    [
        ("postgresql+psycopg://u@127.0.0.1/x", None, 4),
        ("sqlite:////tmp/kel-threads.db", None, 40),
        ("postgresql+psycopg://u@127.0.0.1/x", 12, 12),
    ],
)
def test_the_thread_pool_size_follows_the_database(
    url: str, configured: int | None, threads: int
) -> None:
    settings = Settings(database_url=url, api_threads=configured)

    assert settings.effective_api_threads == threads


def test_the_app_sets_its_processes_thread_pool_when_it_starts(sqlite_url: str) -> None:
    secret = "4f1c9a7e2b8d5063c1e9f7a2b4d8c6e0a3f5b7d9e1c2a4f6b8d0e2c4a6f8b1d3"
    settings = Settings(database_url=sqlite_url, jwt_secret=secret, api_threads=5)

    with TestClient(create_app(settings)) as client:
        assert client.portal is not None  # the app's event loop, lifespan started
        tokens = client.portal.call(
            lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
        )

    assert tokens == 5
