"""A throwaway PostgreSQL primary with a streaming replica and PgBouncer, for the replica
tests: a fresh `initdb` in a temporary directory (the shared server on 5432 is left alone),
a replica made by `pg_basebackup -R` from it, each on a free port, and Debian's pgbouncer in
transaction mode in front of the primary. Everything runs as the `postgres` user when the
tests run as root (PostgreSQL refuses root), and `stop` ends exactly the processes it started."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from live_server import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
DATABASE = "agora"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Cluster:
    """Where the three servers listen, and what to stop."""

    root: Path
    bin: Path
    primary_port: int = field(default_factory=free_port)
    replica_port: int = field(default_factory=free_port)
    bouncer_port: int = field(default_factory=free_port)
    bouncer: subprocess.Popen[bytes] | None = None
    pool_size: int = 2  # PgBouncer's server connections (bench/topology.py asks for more)
    max_connections: int = 60  # each server's

    def url(self, port: int) -> str:
        """The `agora` database's SQLAlchemy URL through `port`."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, timeout=120)

    def _start(self, data: Path, port: int) -> None:
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c shared_buffers=16MB -c max_connections={self.max_connections} "
            "-c wal_level=replica -c max_wal_senders=4 -c hot_standby=on"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(self.root / f"{data.name}.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def start(self) -> None:
        """initdb, the primary, the `agora` database, the replica, PgBouncer."""
        primary, replica = self.root / "primary", self.root / "replica"
        self._run(
            str(self.bin / "initdb"), "-D", str(primary), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        self._start(primary, self.primary_port)
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", DATABASE,
        )  # fmt: skip
        self._run(
            str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "--no-sync",
            "--checkpoint=fast",
        )  # fmt: skip
        self._start(replica, self.replica_port)
        self.start_bouncer()

    def start_bouncer(self) -> None:
        """Start PgBouncer in front of the primary; return once it listens."""
        ini = self.root / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{DATABASE} = host=127.0.0.1 port={self.primary_port} dbname={DATABASE} "
            "user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.bouncer_port}\n"
            f"unix_socket_dir = {self.root}\n"
            "auth_type = any\npool_mode = transaction\n"
            # two server connections for many clients: transactions of one client
            # connection land on different server connections all the time
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 1000\n"
            f"logfile = {self.root}/pgbouncer.log\n"
        )
        os.chmod(ini, 0o644)
        self.bouncer = subprocess.Popen(
            _as_postgres([PGBOUNCER, str(ini)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        import socket

        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.bouncer_port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("pgbouncer did not start: " + (self.root / "pgbouncer.log").read_text())

    def restart_bouncer(self) -> None:
        """Stop PgBouncer at once (every client connection cut) and start it again."""
        self.stop_bouncer()
        self.start_bouncer()

    def stop_replica(self) -> None:
        """Stop the replica alone (as if its machine went away)."""
        self._stop("replica")

    def _stop(self, name: str) -> None:
        if (self.root / name / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [str(self.bin / "pg_ctl"), "-D", str(self.root / name), "-m", "immediate",
                     "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
            )  # fmt: skip

    def stop(self) -> None:
        """Stop PgBouncer and both servers (immediately: the data is thrown away)."""
        self.stop_bouncer()
        for name in ("replica", "primary"):
            self._stop(name)

    def stop_bouncer(self) -> None:
        """Stop PgBouncer at once (every client connection cut); nothing listens after."""
        if self.bouncer is not None and self.bouncer.poll() is None:
            os.killpg(self.bouncer.pid, signal.SIGTERM)  # runuser and pgbouncer, nothing else
            try:
                self.bouncer.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.bouncer.pid, signal.SIGKILL)
                self.bouncer.wait(10)


def make_cluster(bin_dir: Path) -> Cluster:
    """A cluster in a new temporary directory the postgres user owns (not started)."""
    root = Path(tempfile.mkdtemp(prefix="agora-pg-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    return Cluster(root=root, bin=bin_dir)
