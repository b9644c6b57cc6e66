"""Federation under faults and in secure mode, with real processes: Agora servers (`agora
serve`, and `agora worker` where a worker is killed) on loopback ports, and tiny peers
(tests/federation_receivers.py) that follow for real (a signed Follow, answered by an
Accept) and then answer deliveries as told: down, slow (past the client's timeout), 500.

- Each faulty peer is retried with backoff (the schedule is scaled down by
  AGORA_FEDERATION_RETRY_SCALE) and gets the post once it recovers; a live peer gets it at
  once, whatever the others do.
- `kill -9` of the worker while it waits on a delivery loses nothing: the job's lease runs
  out, another worker sends it again (the peer may see the same activity id twice:
  at-least-once), and a real Agora peer shows the post once (its inbox is idempotent by
  activity id).
- Two servers in authorized-fetch mode follow each other and exchange posts: every fetch is
  signed (by the instance actor), and each verifies the other's signatures.

SQLite pass only, as the other multi-server tests.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from agora.federation.signatures import sign_cavage
from federation_receivers import Receiver
from federation_servers import FEDERATION, Person, db, home_texts, person, resolve
from helpers import ON_POSTGRES
from live_server import AGORA, LiveServer, wait_for

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="multi-server tests run in the SQLite pass")
FAST_RETRIES = {"AGORA_FEDERATION_RETRY_SCALE": "0.02", "AGORA_FEDERATION_TIMEOUT": "1"}


def _server(**env: str) -> LiveServer:
    live = LiveServer("sqlite", extra_env={**FEDERATION, **env})
    live.start()
    return live


def _follow(peer: Receiver, alice: Person) -> None:
    """The peer follows alice for real: a signed Follow to A's inbox, answered by Accept."""
    inbox = f"{alice.server.url}/users/{alice.username}/inbox"
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.actor()}/follows/{alice.username}",
        "type": "Follow",
        "actor": peer.actor(),
        "object": alice.actor,
    }
    body = json.dumps(follow).encode()
    headers = sign_cavage(
        "POST", inbox, body, key_id=f"{peer.actor()}#main-key", private_pem=peer.key.private_pem
    )
    answer = httpx.post(
        inbox, content=body, headers={"Content-Type": "application/activity+json", **headers}
    )
    assert answer.status_code == 202, answer.text
    wait_for(lambda: any(p.activity()["type"] == "Accept" for p in peer.posts()), 15, "the Accept")


def _creates(peer: Receiver, text: str) -> list[str]:
    """The ids of the Create activities carrying `text` the peer got (repeats included)."""
    return [
        a["id"]
        for a in (p.activity() for p in peer.posts())
        if a["type"] == "Create" and text in a["object"]["content"]
    ]


def _pending_deliveries(server: LiveServer) -> list[tuple[str, int, str]]:
    with db(server) as conn:
        rows = conn.execute(
            "SELECT json_extract(payload, '$.inbox'), attempts, state FROM jobs "
            "WHERE kind = 'ap_deliver' ORDER BY 1"
        )
        return [(str(i), int(a), str(s)) for i, a, s in rows]


@pytest.fixture
def peers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for peer in started:
        peer.stop()


def test_down_slow_and_failing_peers_are_retried_and_delay_no_live_one(
    peers: list[Receiver],
) -> None:
    a = _server(**FAST_RETRIES)
    try:
        alice = person(a, "alice")
        live, down, slow, failing = (Receiver().start() for _ in range(4))
        peers.extend([live, down, slow, failing])
        for peer in peers:
            _follow(peer, alice)
        down.stop()
        slow.mode, slow.delay = "slow", 3.0  # longer than A's 1 s timeout
        failing.mode = "error"
        started = time.monotonic()
        alice.api.status_post("Through thick and thin")
        wait_for(lambda: _creates(live, "thick and thin"), 10, "the live peer's delivery")
        live_after = time.monotonic() - started
        wait_for(lambda: len(_creates(failing, "thick and thin")) >= 2, 15, "a retry of the 500")
        wait_for(lambda: len(_creates(slow, "thick and thin")) >= 2, 15, "a retry of the slow")
        # the domains' failures are recorded; the live one has no record
        with db(a) as conn:
            failures = dict(conn.execute("SELECT domain, failures FROM federation_domains"))
        for peer in (down, slow, failing):
            assert failures.get(f"127.0.0.1:{peer.port}", 0) >= 1, (peer.mode, failures)
        assert f"127.0.0.1:{live.port}" not in failures
        # they recover: the next retry gets through and nothing stays queued but the dead one
        slow.mode, failing.mode = "ok", "ok"
        wait_for(
            lambda: [i for i, _, _ in _pending_deliveries(a)] == [f"{down.url}/inbox"],
            30,
            "only the dead peer's delivery to be left",
        )
        assert len(set(_creates(failing, "thick and thin"))) == 1  # one activity, retried
        ((_, attempts, state),) = _pending_deliveries(a)
        assert attempts >= 1 and state in ("pending", "running")
        assert len(_creates(live, "thick and thin")) == 1
        # the live one waited at most for the slow one's 1 s timeout, not for any retry
        # (their first retries come after 15 s x 0.02; the bound leaves room for a loaded CI)
        assert live_after < 8, live_after
    finally:
        a.stop()


def _worker(server: LiveServer) -> subprocess.Popen[bytes]:
    log = open(server.workdir / "worker.log", "ab")  # noqa: SIM115
    return subprocess.Popen([*AGORA, "worker"], env=server.env, stdout=log, stderr=log)


def test_kill_9_of_the_worker_mid_delivery_loses_nothing_and_shows_no_duplicate(
    peers: list[Receiver],
) -> None:
    a = _server(AGORA_INPROCESS_WORKERS="0", AGORA_FEDERATION_TIMEOUT="60")
    b = _server()
    worker = _worker(a)
    try:
        alice, bob = person(a, "alice"), person(b, "bob")
        remote_alice = resolve(bob, alice)
        bob.api.account_follow(remote_alice)
        wait_for(lambda: bob.api.account_relationships(remote_alice)[0].following, 20, "follow")
        slow = Receiver("slow", delay=30.0).start()
        peers.append(slow)
        slow.mode = "ok"
        _follow(slow, alice)
        slow.mode = "slow"
        alice.api.status_post("Survives a kill")
        wait_for(lambda: _creates(slow, "Survives a kill"), 20, "the worker to be mid-delivery")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        slow.mode = "ok"
        worker = _worker(a)  # its lease (10 s) runs out, then the new worker sends it again
        wait_for(lambda: _pending_deliveries(a) == [], 40, "every delivery to be done")
        ids = _creates(slow, "Survives a kill")
        assert len(ids) == 2 and len(set(ids)) == 1  # sent again, under the same id
        wait_for(lambda: any("Survives a kill" in t for t in home_texts(bob)), 20, "on B")
        assert sum("Survives a kill" in t for t in home_texts(bob)) == 1
        with db(a) as conn:
            # nothing left but the periodic refreshes every server keeps queued (trends, the
            # For You candidate sets)
            periodic = "('refresh_trends', 'refresh_for_you')"
            left = f"SELECT count(*) FROM jobs WHERE kind NOT IN {periodic}"
            assert conn.execute(left).fetchone() == (0,)
        with db(b) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM posts WHERE content_html LIKE '%Survives a kill%'"
            ).fetchone()
        assert count == 1
    finally:
        worker.kill()
        worker.wait(10)
        a.stop()
        b.stop()


def test_two_servers_in_authorized_fetch_mode_follow_each_other() -> None:
    a = _server(AGORA_AUTHORIZED_FETCH="true")
    b = _server(AGORA_AUTHORIZED_FETCH="true")
    try:
        alice, bob = person(a, "alice"), person(b, "bob")
        unsigned = httpx.get(alice.actor, headers={"Accept": "application/activity+json"})
        assert unsigned.status_code == 401
        remote_alice, remote_bob = resolve(bob, alice), resolve(alice, bob)
        bob.api.account_follow(remote_alice)
        alice.api.account_follow(remote_bob)
        wait_for(lambda: bob.api.account_relationships(remote_alice)[0].following, 20, "b->a")
        wait_for(lambda: alice.api.account_relationships(remote_bob)[0].following, 20, "a->b")
        alice.api.status_post("Secure hello from A")
        bob.api.status_post("Secure hello from B")
        wait_for(lambda: any("from A" in t for t in home_texts(bob)), 20, "A's post on B")
        wait_for(lambda: any("from B" in t for t in home_texts(alice)), 20, "B's post on A")
        # each knows the other's instance actor: that is who signed the fetches
        for here, there in ((a, b), (b, a)):
            with db(here) as conn:
                uris = {
                    u for (u,) in conn.execute("SELECT uri FROM accounts WHERE uri IS NOT NULL")
                }
            assert f"{there.url}/actor" in uris
    finally:
        a.stop()
        b.stop()
