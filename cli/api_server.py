"""The API server as ``make up`` runs it: ``python -m cli.api_server --workers 2``.

Uvicorn serving `api.main.create_app` (factory), no access log (a request line names the
case in its path), in N processes. Two things differ from ``uvicorn --workers N``, both
found by ``make bench`` (issue 9):

- **TCP_NODELAY.** Uvicorn 0.54 binds its listener with protocol 0; asyncio then never
  sets ``TCP_NODELAY`` on the accepted connections, and every keep-alive request after
  the first waited for the client's delayed ACK, about 40 ms (uvicorn issue #3149;
  measured: ``GET /api/v1/health`` 48 ms with two processes, 2.6 ms with this listener).
- **Connections spread over the processes.** Uvicorn's processes share one listening
  socket, and asyncio accepts every waiting connection at once: under load the process
  that is awake took them all (measured: 16 keep-alive clients, 16 connections on one
  process, none on the other). Here each process binds its own socket with
  ``SO_REUSEPORT`` and the kernel spreads new connections over them.

The parent starts the processes, restarts one that dies (after 1, 2, 4 s when it dies
again right after its start) and on SIGTERM or SIGINT stops them all and exits 0; a
process that dies within `STARTUP` seconds of its start `GIVE_UP` times in a row (port
taken, bad settings) ends the server with exit code 1. Behind a reverse
proxy on another host: ``--forwarded-allow-ips <its address>`` (uvicorn's defaults
otherwise: proxy headers trusted from 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

APP = "api.main:create_app"
#: A process that dies within this many seconds of its start, `GIVE_UP` times in a row,
#: ends the server with exit code 1 (port taken, bad settings); else it is started again.
STARTUP = 10.0
GIVE_UP = 3


def listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to (`host`, `port`) whose accepted connections asyncio sets to
    ``TCP_NODELAY`` (its protocol is TCP); with `reuse_port`, one of several processes'
    sockets on that port (``SO_REUSEPORT``: the kernel spreads connections over them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve(args: argparse.Namespace, reuse_port: bool) -> None:
    """One API process: uvicorn on its own listener."""
    config = uvicorn.Config(
        APP,
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    uvicorn.Server(config).run(sockets=[listener(args.host, args.port, reuse_port=reuse_port)])


def supervise(args: argparse.Namespace) -> int:
    """Run `args.workers` processes of `serve` until SIGTERM or SIGINT (see the module)."""
    spawn = multiprocessing.get_context("spawn")
    stopping: list[int] = []

    def stop(signum: int, _: FrameType | None) -> None:
        stopping.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)

    def start() -> tuple[BaseProcess, float]:
        process = spawn.Process(target=serve, args=(args, True), daemon=False)
        process.start()
        return process, time.monotonic()

    processes = [start() for _ in range(args.workers)]
    quick = [0] * args.workers  # deaths in a row within STARTUP seconds of the start
    code = 0
    while not stopping and code == 0:
        time.sleep(0.5)
        for i, (process, started) in enumerate(processes):
            if process.is_alive() or stopping:
                continue
            quick[i] = quick[i] + 1 if time.monotonic() - started < STARTUP else 0
            if quick[i] >= GIVE_UP:
                print(f"API-Prozess startet nicht (Code {process.exitcode})", file=sys.stderr)
                code = 1
                break
            print(f"API-Prozess {process.pid} beendet; Neustart", file=sys.stderr, flush=True)
            time.sleep(2 ** quick[i])
            processes[i] = start()
    for process, _ in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests it has
    for process, _ in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    return code


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
    if args.workers > 1:
        return supervise(args)
    serve(args, reuse_port=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
