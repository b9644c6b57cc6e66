"""`python -m bench.worker_processes FACTORY PORT WORKERS`: an application factory (Agora's or
the bare no-op) served by WORKERS uvicorn processes on 127.0.0.1:PORT the way `agora serve
--workers N` serves Agora (cli/worker_sockets.py: a listening socket per process on Linux),
without the access log, so that bench.http's scaling runs measure Agora and its ceiling in
the same shape."""

from __future__ import annotations

import sys
from typing import Any

from agora.cli.worker_sockets import serve


def main() -> None:
    """Entry point."""
    factory, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    options: dict[str, Any] = {"factory": True, "host": "127.0.0.1", "port": port}
    options |= {"workers": workers, "access_log": False, "log_level": "warning"}
    serve(factory, options)


if __name__ == "__main__":
    main()
