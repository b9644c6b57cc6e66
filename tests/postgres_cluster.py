"""A throwaway PostgreSQL primary with a streaming replica and PgBouncer, for the replica
tests and the topology benchmarks: a fresh `initdb` in a temporary directory (the shared server
on 5432 is left alone), a replica made by `pg_basebackup -R` from it, each on a free port, and
PgBouncer (`PGBOUNCER`: the one `make pgbouncer` builds) in transaction mode in front of the
primary, tracking prepared statements unless `max_prepared_statements` is 0. The `agora`
database carries Agora's connection settings (db/pg_settings.py), as docs/OPERATIONS.md asks
of a database behind PgBouncer. Everything runs as the `postgres` user when the tests run as
root (PostgreSQL refuses root), and `stop` ends exactly the processes it started."""

from __future__ import annotations

import csv
import glob
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from agora.db.pg_settings import connection_settings
from live_server import free_port

# built by `make pgbouncer` (scripts/build-pgbouncer.sh: 1.24.1; Debian 12's 1.18 does not keep
# prepared statements across transactions)
PGBOUNCER = Path(__file__).resolve().parent.parent / ".tools" / "pgbouncer" / "bin" / "pgbouncer"
DATABASE = "agora"
# PgBouncer's prepared statements per server connection (an LRU; 200 by default in 1.24). Every
# client's statements land on every server connection, so it must hold the statements of all
# of Agora's processes, web and workers, not of one connection (whose own caches, SQLAlchemy's
# and asyncpg's, keep 100 each): a wide mix of the API and the pages (people following each
# other, posts, replies, likes, boosts, the timelines, notifications, search, a few pages, the
# jobs) prepared 208 distinct statements on one server connection, 16.5 MB of PostgreSQL's
# memory with their plans (about 80 KB each); the small topology test's mix, at most 80. 200
# would evict; 500 leaves room for what that mix did not touch (federation, the admin console,
# the assistant), and memory grows only with the statements each server connection runs.
# tests/test_topology.py checks that none reaches it. The 300-person topology (bench/topology.py,
# stop 21) put 452 on one server connection: close to it (a page's `IN` list of another length
# is another statement text, the likely reason; not measured).
MAX_PREPARED_STATEMENTS = 500


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
    max_prepared_statements: int = MAX_PREPARED_STATEMENTS  # 0: not tracked (PgBouncer < 1.21)

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

    def start(self, *, replica: bool = True) -> None:
        """initdb, the primary, the `agora` database, the replica (unless `replica=False`),
        PgBouncer."""
        primary = self.root / "primary"
        self._run(
            str(self.bin / "initdb"), "-D", str(primary), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        self._start(primary, self.primary_port)
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", DATABASE,
        )  # fmt: skip
        for command in _database_settings():
            self.psql(self.primary_port, DATABASE, command)
        if replica:
            self._start_replica()
        self.start_bouncer()

    def _start_replica(self) -> None:
        replica = self.root / "replica"
        self._run(
            str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "--no-sync",
            "--checkpoint=fast",
        )  # fmt: skip
        self._start(replica, self.replica_port)

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
            "auth_type = any\nadmin_users = postgres\npool_mode = transaction\n"
            # two server connections for many clients: transactions of one client
            # connection land on different server connections all the time
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 1000\n"
            f"max_prepared_statements = {self.max_prepared_statements}\n"
            f"logfile = {self.root}/pgbouncer.log\n"
        )
        os.chmod(ini, 0o644)
        self.bouncer = subprocess.Popen(
            _as_postgres([str(PGBOUNCER), str(ini)]),
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

    def psql(self, port: int, database: str, command: str) -> list[dict[str, str]]:
        """Run `command` with psql (a simple query, as PgBouncer's admin console needs) on
        `port`'s `database`; its rows, by column name (none for a command without)."""
        args = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        args += ["-d", database, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-c", command]
        done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)
        return list(csv.DictReader(io.StringIO(done.stdout)))

    def bouncer_admin(self, command: str) -> list[dict[str, str]]:
        """A command of PgBouncer's admin console (`SHOW SERVERS`, `SHOW STATS`, `RECONNECT`):
        `auth_type = any` lets any user in."""
        return self.psql(self.bouncer_port, "pgbouncer", command)

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


def _database_settings() -> list[str]:
    """`ALTER DATABASE` commands giving the `agora` database Agora's connection settings
    (db/pg_settings.py, with the default lock timeout): a connection through PgBouncer may not
    send them at startup. The replica, copied from the primary after, has them too."""
    return [
        f"ALTER DATABASE {DATABASE} SET {name} = '{value}'"
        for name, value in connection_settings(10.0).items()
    ]


def make_cluster(bin_dir: Path) -> Cluster:
    """A cluster in a new temporary directory the postgres user owns (not started)."""
    root = Path(tempfile.mkdtemp(prefix="agora-pg-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    return Cluster(root=root, bin=bin_dir)
