"""The listening sockets of `agora serve --workers N`: one per worker process on Linux, so that
the kernel spreads new connections over the workers.

uvicorn's supervisor binds one socket and hands it to every worker. The workers then race
for each connection, and the one that wakes first accepts every connection waiting (libuv,
like asyncio, accepts until the queue is empty): a burst of connections opened together, as
a load generator does, or nginx refilling its upstream keep-alive connections after a
restart, lands on one process, which serves it alone for as long as those connections stay
open. bench.http's scaling runs measured two workers at 0.85-1.0x one in three runs of nine
that way (the other process idle).

Here each worker binds its own socket with `SO_REUSEPORT` (Linux 3.9+), and the kernel hands
each new connection to one of the listening sockets by a hash of its addresses. The
supervisor gives each worker an address (`OwnSocket`), which becomes a bound socket only as
the worker unpickles it: the supervisor never holds a listening socket, so a worker that
exits takes its socket out of the group (the connections queued on it and not yet accepted
are reset, as a killed process's always were), and its replacement binds a new one.

Invariants: the address is bound once by the supervisor, with the same options, and closed
without listening, so a port held by another program fails the start at once with uvicorn's
exit code instead of failing each worker; elsewhere than Linux (where `SO_REUSEPORT` does
not spread connections), and for a Unix socket or an inherited descriptor, uvicorn's shared
socket is used as it is.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("uvicorn.error")


def spreads(config: Config) -> bool:
    """Whether the workers of `config` get a socket each (module docstring)."""
    return (
        sys.platform == "linux"
        and hasattr(socket, "SO_REUSEPORT")
        and config.workers > 1
        and config.uds is None
        and config.fd is None
    )


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with `SO_REUSEPORT`, not listening yet (uvicorn's
    worker listens on it as it starts serving)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class OwnSocket:
    """An address that a worker process binds for itself as it receives it: pickled as the
    call that binds it (`bound_socket`), so the supervisor holds no socket."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return bound_socket, (self.host, self.port)


def run_workers(config: Config) -> None:
    """Serve `config.app` in `config.workers` processes under uvicorn's supervisor (which
    restarts a worker that dies), each on its own socket (module docstring)."""
    try:
        probe = bound_socket(config.host, config.port)  # a port taken fails here, once
    except OSError as exc:
        log.error(exc)
        sys.exit(STARTUP_FAILURE)
    with probe:
        port = probe.getsockname()[1]  # (port 0: the one the kernel chose, for every worker)
    scheme = "https" if config.is_ssl else "http"
    log.info(
        "Uvicorn running on %s://%s:%d (Press CTRL+C to quit), a socket per worker",
        scheme,
        config.host,
        port,
    )
    own = cast(socket.socket, OwnSocket(config.host, port))
    Multiprocess(config, sockets=[own]).run()


def serve(factory: str, options: dict[str, Any]) -> None:
    """Run uvicorn on the application `factory` (an import string) with `options` (uvicorn's
    keyword arguments): several workers on a socket each where `spreads` says so, else as
    `uvicorn.run` runs it."""
    config = Config(factory, **options)
    if spreads(config):
        run_workers(config)
    else:
        uvicorn.run(factory, **options)
