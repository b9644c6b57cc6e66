"""PostgreSQL's word that something a kept page reads may have changed, pushed to every
listening process, so that a page proved current once is answered again with no statement
until something changes (api/page_cache.py, "Proved once, answered from memory").

**What notifies.** Statement triggers of migration 0044 on every table the page stamps
statement reads (`NOTICE_TABLES`: `view_stamps`, `posts`, `accounts`, `follows`): any
INSERT, UPDATE, DELETE or TRUNCATE of them sends `NOTIFY agora_page_changes` from its
transaction, which PostgreSQL delivers to every listening session when, and only if, that
transaction commits. Every writer passes them (the web processes, the job workers, the
commands, a person at `psql`), so no code path can forget one; identical notifications of
one transaction are delivered once.

**The epoch.** `ChangeNotices.epoch` only grows: at every notification heard, at every
commit of a session of this process that wrote (`_committed`: this process's own writes are
seen before its next request, whatever the order in which the event loop reads its
sockets), and whenever the listening connection is opened again (what was committed while
no one listened was heard by no one).

**What a page may rely on.** A page whose stamps statement ran on the primary after the
epoch was read as `e`, and read the stamps the page was built under, shows what the primary
holds for as long as the epoch is still `e` and the notices are `live`: a change committed
after that statement's snapshot notifies after its commit, which grows the epoch; one
committed before it was seen by the statement. The window left is the notification's way
from the primary to this process (tens to hundreds of microseconds on one machine), the
same for a person as having asked a moment earlier.

**Live.** Only while the listening connection is open, this process's own heartbeat (a
`NOTIFY` with its own token every `HEARTBEAT_SECONDS`) came back within `LATE_SECONDS`, and
the heartbeat's statement found every notice trigger enabled: a connection that died without
a word, a server that stopped delivering, an event loop too busy to read them all, or a
trigger dropped or disabled (a change to its table would be heard by no one) end the trust
until a heartbeat finds it restored. While not live, every page is checked by its
statement, as without notices.

PostgreSQL only, and over a direct connection to the primary: a hot standby delivers no
notifications and PgBouncer's transaction mode cannot hold a `LISTEN`
(`AGORA_DATABASE_NOTICES_URL` names the primary directly behind PgBouncer).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import weakref
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from agora.db.session_writes import WROTE_KEY

log = logging.getLogger(__name__)

CHANNEL = "agora_page_changes"
NOTICE_TABLES = ("view_stamps", "posts", "accounts", "follows")  # what the stamps read
HEARTBEAT_SECONDS = 1.0
LATE_SECONDS = 3.0  # no heartbeat back for this long: not live
RETRY_SECONDS = 2.0  # after a lost or refused connection
CONNECT_SECONDS = 5.0

# the notice triggers enabled (all of NOTICE_TABLES' when the migration's are in place)
_TRIGGERS = (
    "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%notice_page_stamp' AND tgenabled <> 'D' "
    "AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = "
    "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()))"
)

_BASES = itertools.count(1)
_listening: weakref.WeakSet[ChangeNotices] = weakref.WeakSet()


class ChangeNotices:
    """One process's listener on `CHANNEL` and the epoch it keeps (module docstring)."""

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.epoch = next(_BASES) << 40  # no epoch repeats across listeners of a process
        self._token = f"alive {os.getpid()} {id(self)}"
        self._connection: Any = None
        self._heard_at = float("-inf")
        self._triggers_complete = False
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """Whether the epoch may be relied on now (module docstring, "Live")."""
        connection = self._connection
        return (
            connection is not None
            and self._triggers_complete
            and not connection.is_closed()
            and time.monotonic() - self._heard_at < LATE_SECONDS
        )

    def changed(self) -> None:
        """Something a page reads may have changed: grow the epoch."""
        self.epoch += 1

    def start(self) -> None:
        """Listen from now on, in a task of the running loop, until `stop`."""
        if self._task is None:
            _listening.add(self)
            self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        _listening.discard(self)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def wait_live(self, timeout: float = 10.0) -> bool:
        """Whether the notices became live within `timeout` seconds (tests, start-up)."""
        deadline = time.monotonic() + timeout
        while not self.live:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection, a server restarting, a late heartbeat
                log.warning("page change notices: %r; pages are checked by statement", exc)
            finally:
                await self._close()
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(
            self.dsn, timeout=CONNECT_SECONDS, statement_cache_size=0
        )
        self._connection = connection
        await connection.add_listener(CHANNEL, self._heard)
        self._note_triggers(await connection.fetchval(_TRIGGERS, timeout=LATE_SECONDS))
        self.changed()  # nothing committed before the LISTEN was heard
        self._heard_at = time.monotonic()  # live from now on, not before
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            enabled = await connection.fetchval(
                f"SELECT pg_notify($1, $2), ({_TRIGGERS})",
                CHANNEL,
                self._token,
                column=1,
                timeout=LATE_SECONDS,
            )
            self._note_triggers(enabled)
            if not self.live:
                raise TimeoutError(f"no heartbeat back in {LATE_SECONDS} s")

    def _note_triggers(self, enabled: int) -> None:
        """Whether every notice trigger is there and enabled: without one, a change to its
        table would be heard by no one, so nothing may be relied on."""
        complete = enabled >= len(NOTICE_TABLES)
        if complete != self._triggers_complete:
            if not complete:
                log.warning(
                    "page change notices: %d of the %d triggers of migration 0044 enabled; "
                    "pages are checked by statement",
                    enabled,
                    len(NOTICE_TABLES),
                )
            self.changed()
            self._triggers_complete = complete

    def _heard(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if payload == self._token:
            self._heard_at = time.monotonic()
        elif not payload.startswith("alive "):  # another process's heartbeat changes nothing
            self.changed()

    async def _close(self) -> None:
        self._heard_at = float("-inf")  # not live again before the next connection is set up
        self._triggers_complete = False
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), CONNECT_SECONDS)
            except Exception:
                connection.terminate()


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """A session of this process committed writes: every listener's epoch grows at once."""
    if session.info.get(WROTE_KEY):
        for notices in list(_listening):
            notices.changed()
