"""The API server as ``make up`` runs it: ``python -m cli.api_server --workers 2``.

Uvicorn serving `api.main.create_app` (factory) with N worker processes, no access log (a
request line names the case in its path), on a listening socket this module binds with
``IPPROTO_TCP``. Uvicorn 0.54's own ``--workers N`` binds it with protocol 0; asyncio
then never sets ``TCP_NODELAY`` on the accepted connections, and every keep-alive request
after the first waited for the client's delayed ACK: about 40 ms more per request (uvicorn
issue #3149, measured here: ``GET /api/v1/health`` 48 ms with two processes, 2.5 ms with
one). Behind a reverse proxy on another host: ``--forwarded-allow-ips <its address>``
(uvicorn's defaults otherwise: proxy headers trusted from 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "api.main:create_app"


def listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (`host`, `port`), inheritable by the worker processes, whose
    accepted connections asyncio sets to ``TCP_NODELAY`` (its protocol is TCP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.api_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="API-Prozesse (1)")
    parser.add_argument(  # as uvicorn: on, trusted from --forwarded-allow-ips only
        "--proxy-headers", action=argparse.BooleanOptionalAction, default=True
    )
    parser.add_argument(
        "--forwarded-allow-ips", default=None, help="Adressen des Proxys (uvicorn: 127.0.0.1)"
    )
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        APP,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    sock = listener(args.host, args.port)
    if args.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
