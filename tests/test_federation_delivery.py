"""Deliveries and fetches against real peers (tests/federation_receivers.py: HTTP servers on
loopback ports), on both databases: signatures the receiving side can check with Agora's own
verifier (draft-cavage first, RFC 9421 after a 401), Mastodon's retry schedule, the
per-domain circuit breaker and the 7-day unavailable mark (federation/domain_health.py), and
fan-out writing no home-feed rows for remote followers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from agora.config import get_settings
from agora.db.models import Account, FederationDomain, HomeFeedEntry, Job, utcnow
from agora.federation import domain_health
from agora.federation.actors import fetch_actor
from agora.federation.keys import instance_actor_uri, instance_key_pair, key_pair
from agora.federation.outbox import delivery_backoff
from agora.federation.signatures import verify_request
from agora.jobs.job_kinds import JobKind, JobState
from agora.social.people import relationships
from federation_receivers import Receiver


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The peers listen on loopback: let federation reach them (as the live tests do)."""
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)


@pytest.fixture
def peers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for peer in started:
        peer.stop()


def _peer(peers: list[Receiver], mode: str = "ok", **kw: Any) -> Receiver:
    peer = Receiver(mode, **kw).start()
    peers.append(peer)
    return peer


async def _follows_alice(db, peer: Receiver, alice_id: int) -> Account:  # type: ignore[no-untyped-def]
    """The peer's actor, fetched for real (signed by the instance actor), follows alice."""
    remote = await fetch_actor(db, peer.actor())
    async with db.session(write=True) as session:
        await relationships.follow(session, remote, alice_id)
        await session.commit()
    return remote


async def _delivery_jobs(db) -> list[Job]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list(
            (await session.scalars(select(Job).where(Job.kind == JobKind.AP_DELIVER))).all()
        )


async def _domain(db, url: str) -> FederationDomain | None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await session.get(FederationDomain, domain_health.domain_of(url))


def _verifies(got: Any, public_pem: str) -> str:
    """Check a request a peer got with Agora's own verifier; the scheme it was signed with."""
    url = f"http://{got.headers['host']}{got.path}"
    return verify_request(got.method, url, got.headers, got.body, public_pem).scheme


async def test_a_post_reaches_the_peer_signed_and_fetches_are_signed_by_the_instance_actor(
    client, db, make_person, run_jobs, peers
) -> None:
    alice = await make_person("alice")
    peer = _peer(peers)
    await _follows_alice(db, peer, alice.id)
    fetch = next(r for r in peer.received if r.method == "GET")
    instance = await instance_key_pair(db)
    assert fetch.headers["signature"].startswith(f'keyId="{instance_actor_uri()}#main-key"')
    assert _verifies(fetch, instance.public_pem) == "cavage"
    r = await client.post("/api/v1/statuses", json={"status": "hello peers"}, headers=alice.headers)
    assert r.status_code == 200
    await run_jobs()
    (delivery,) = peer.posts()
    assert delivery.path == "/inbox"  # the shared inbox
    assert delivery.activity()["type"] == "Create"
    assert "hello peers" in delivery.activity()["object"]["content"]
    assert _verifies(delivery, (await key_pair(db, alice.id)).public_pem) == "cavage"
    assert await _delivery_jobs(db) == [] and await _domain(db, peer.url) is None


async def test_a_401_to_draft_cavage_is_retried_once_with_rfc9421(
    client, db, make_person, run_jobs, peers
) -> None:
    alice = await make_person("alice")
    peer = _peer(peers, "rfc9421")
    await _follows_alice(db, peer, alice.id)
    await client.post("/api/v1/statuses", json={"status": "strict peer"}, headers=alice.headers)
    await run_jobs()
    first, second = peer.posts()
    public = (await key_pair(db, alice.id)).public_pem
    assert (_verifies(first, public), _verifies(second, public)) == ("cavage", "rfc9421")
    assert second.headers["signature-input"].count('keyid="') == 1
    assert f'keyid="{key_id_of(alice.username)}"' in second.headers["signature-input"]
    assert await _delivery_jobs(db) == []


def key_id_of(username: str) -> str:
    return f"{get_settings().base_url}/users/{username}#main-key"


RECORDING_SLACK = 2.0  # seconds from a failed delivery's record to its job's retry time


async def test_a_peer_answering_500_is_retried_on_mastodons_schedule(
    client, db, make_person, run_jobs, peers
) -> None:
    alice = await make_person("alice")
    peer = _peer(peers, "error")
    await _follows_alice(db, peer, alice.id)
    await client.post("/api/v1/statuses", json={"status": "try again"}, headers=alice.headers)
    before = utcnow()
    await run_jobs()
    after = utcnow()
    (job,) = await _delivery_jobs(db)
    assert (job.state, job.attempts, job.max_attempts) == (JobState.PENDING, 1, 17)
    assert "answered 500" in (job.last_error or "")
    failing = await _domain(db, peer.url)
    assert failing is not None and failing.failures == 1 and failing.open_until is None
    # Mastodon's schedule: the retry is due 0^4 + 15 s plus up to 10 s of jitter after the
    # failure, timed from the failure as the domain recorded it (when the request ended), not
    # from the post: what runs before the request (the post's fan-out and federation jobs,
    # the author's key made, the delivery signed) once took ~5 s on a loaded machine and
    # broke a bound timed from the post. Between that record and the job's retry time only
    # the job's own bookkeeping runs (at most RECORDING_SLACK).
    assert before <= failing.last_failure_at <= after
    wait = (job.run_at - failing.last_failure_at).total_seconds()
    assert 15 <= wait <= 15 + 10 + RECORDING_SLACK, wait
    # the peer recovers: the retry succeeds and the domain is healthy again
    peer.mode = "ok"
    async with db.session(write=True) as session:
        found = await session.get(Job, job.id)
        assert found is not None
        found.run_at = utcnow()
        await session.commit()
    await run_jobs()
    assert len(peer.posts()) == 2 and await _delivery_jobs(db) == []
    assert await _domain(db, peer.url) is None


async def test_an_answer_no_retry_can_fix_drops_the_delivery(
    client, db, make_person, run_jobs, peers
) -> None:
    alice = await make_person("alice")
    peer = _peer(peers, "gone")
    await _follows_alice(db, peer, alice.id)
    await client.post("/api/v1/statuses", json={"status": "to nobody"}, headers=alice.headers)
    await run_jobs()
    assert len(peer.posts()) == 1
    assert await _delivery_jobs(db) == []  # dropped, not retried, not dead
    assert await _domain(db, peer.url) is None  # it answered: the domain is up


def test_the_retry_schedule_is_mastodons() -> None:
    """The first try and 16 retries over about two days: (n^4 + 15) s plus jitter before
    retry n (Mastodon's DeliveryWorker)."""
    assert get_settings().federation_delivery_attempts == 17
    waits = [delivery_backoff(attempts) for attempts in range(1, 17)]
    for n, wait in enumerate(waits):
        assert n**4 + 15 <= wait <= n**4 + 15 + 10 * (n + 1)
    total = sum(waits)
    assert timedelta(days=2) <= timedelta(seconds=total) <= timedelta(days=2, hours=6)


async def test_the_circuit_opens_after_consecutive_failures_and_spends_no_requests(
    client, db, make_person, run_jobs, peers, monkeypatch
) -> None:
    """A domain that failed `federation_circuit_failures` times in a row gets no request
    during the cool-down: its deliveries wait without spending an attempt; a trial after the
    cool-down that succeeds closes the circuit."""
    monkeypatch.setattr(get_settings(), "federation_circuit_failures", 3)
    alice = await make_person("alice")
    peer = _peer(peers, "error")
    await _follows_alice(db, peer, alice.id)
    for n in range(5):
        await client.post("/api/v1/statuses", json={"status": f"p{n}"}, headers=alice.headers)
        await run_jobs()
    assert len(peer.posts()) == 3  # the 4th and 5th were held back without a request
    failing = await _domain(db, peer.url)
    assert failing is not None and failing.failures == 3 and failing.open_until is not None
    jobs = await _delivery_jobs(db)
    assert sorted(j.attempts for j in jobs) == [0, 0, 1, 1, 1]
    held = [j for j in jobs if j.attempts == 0]
    assert all(j.run_at >= failing.open_until for j in held)
    assert all("circuit is open" in (j.last_error or "") for j in held)
    # the cool-down ends: one trial goes through; the peer is back, so the circuit closes
    peer.mode = "ok"
    async with db.session(write=True) as session:
        row = await session.get(FederationDomain, domain_health.domain_of(peer.url))
        assert row is not None
        row.open_until = utcnow() - timedelta(seconds=1)
        for job in await session.scalars(select(Job).where(Job.kind == JobKind.AP_DELIVER)):
            job.run_at = utcnow()
        await session.commit()
    await run_jobs()
    assert await _domain(db, peer.url) is None
    assert await _delivery_jobs(db) == [] and len(peer.posts()) == 3 + 5


async def test_only_one_trial_after_the_cool_down(db, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "federation_circuit_failures", 2)
    domain, now = "down.example", utcnow()
    for _ in range(2):
        await domain_health.record_failure(db, domain, now)
    assert (await domain_health.admit(db, domain, now)).action == "wait"
    later = now + timedelta(seconds=get_settings().federation_circuit_cooldown + 1)
    first = await domain_health.admit(db, domain, later)
    second = await domain_health.admit(db, domain, later)
    assert (first.action, second.action) == ("send", "wait")
    await domain_health.record_success(db, domain)
    assert (await domain_health.admit(db, domain, later)) == domain_health.Admission("send")


async def test_a_domain_failing_for_seven_days_is_unavailable_until_it_speaks(
    client, db, make_person, run_jobs, peers
) -> None:
    alice = await make_person("alice")
    peer = _peer(peers)
    remote = await _follows_alice(db, peer, alice.id)
    domain, then = domain_health.domain_of(peer.url), utcnow() - timedelta(days=7, minutes=1)
    await domain_health.record_failure(db, domain, then)
    assert (await domain_health.admit(db, domain)).action == "send"  # failing, not for long
    await domain_health.record_failure(db, domain)
    marked = await _domain(db, peer.url)
    assert marked is not None and marked.unavailable_since is not None
    assert [d.domain for d in await domain_health.unavailable_domains(db)] == [domain]
    await client.post("/api/v1/statuses", json={"status": "lost"}, headers=alice.headers)
    await run_jobs()
    assert peer.posts() == [] and await _delivery_jobs(db) == []  # dropped, not retried
    # an activity from it clears the mark: deliveries are attempted again
    async with db.session(write=True) as session:
        await domain_health.heard_from(session, remote.domain or "")
        await session.commit()
    assert await _domain(db, peer.url) is None
    await client.post("/api/v1/statuses", json={"status": "found"}, headers=alice.headers)
    await run_jobs()
    assert [p.activity()["object"]["content"] for p in peer.posts()] == ["<p>found</p>"]


async def test_one_dead_domain_delays_no_live_one(
    client, db, make_person, run_jobs, peers, monkeypatch
) -> None:
    """Ten followers on a dead server and one on a live one: the live one gets every post,
    and once the dead domain's circuit is open it costs no request at all."""
    monkeypatch.setattr(get_settings(), "federation_circuit_failures", 2)
    alice = await make_person("alice")
    live = _peer(peers)
    dead = _peer(peers, names=tuple(f"d{i}" for i in range(10)))
    await _follows_alice(db, live, alice.id)
    for name in dead.names:
        remote = await fetch_actor(db, dead.actor(name))
        async with db.session(write=True) as session:
            await relationships.follow(session, remote, alice.id)
            await session.commit()
    dead.stop()
    for n in range(4):
        await client.post("/api/v1/statuses", json={"status": f"n{n}"}, headers=alice.headers)
        await run_jobs()
    assert len(live.posts()) == 4
    failing = await _domain(db, dead.url)
    assert failing is not None and failing.failures == 2 and failing.open_until is not None
    jobs = await _delivery_jobs(db)
    assert {j.payload["inbox"] for j in jobs} == {f"{dead.url}/inbox"}  # one per post
    assert sorted(j.attempts for j in jobs) == [0, 0, 1, 1]  # 2 failed, 2 held back


async def test_fan_out_writes_no_home_feed_rows_for_remote_followers(
    client, db, make_person, run_jobs, peers
) -> None:
    alice, bob = await make_person("alice"), await make_person("bob")
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert r.status_code == 200
    peer = _peer(peers, names=("p1", "p2", "p3"))
    for name in peer.names:
        remote = await fetch_actor(db, peer.actor(name))
        async with db.session(write=True) as session:
            await relationships.follow(session, remote, alice.id)
            await session.commit()
    await client.post("/api/v1/statuses", json={"status": "feeds"}, headers=alice.headers)
    await run_jobs()
    async with db.session() as session:
        owners = set((await session.scalars(select(HomeFeedEntry.account_id).distinct())).all())
        remote_rows = await session.scalar(
            select(func.count())
            .select_from(HomeFeedEntry)
            .join(Account, Account.id == HomeFeedEntry.account_id)
            .where(Account.domain.is_not(None))
        )
    assert owners == {alice.id, bob.id} and remote_rows == 0
    assert len(peer.posts()) == 1  # and the remote followers' server got it, once
    home = await client.get("/api/v1/timelines/home", headers=bob.headers)
    assert [s["content"] for s in home.json()] == ["<p>feeds</p>"]


def test_every_outgoing_request_shares_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making a TLS context loads the CA bundle (tens of ms of CPU): made once per process,
    not twice per request, and it is the one the guarded connections use."""
    import httpx

    from agora.federation import client

    made: list[object] = []
    create = httpx.create_ssl_context

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    client.ssl_context.cache_clear()
    try:
        transports = [client.guarded_transport() for _ in range(3)]
        assert len(made) == 1
        assert all(t._pool._ssl_context is made[0] for t in transports)
        assert made[0].verify_mode.name == "CERT_REQUIRED"  # type: ignore[attr-defined]
    finally:
        client.ssl_context.cache_clear()


async def test_slow_servers_are_waited_for_at_once_not_one_after_the_other(
    client, db, make_person, run_jobs, peers
) -> None:
    """Four followers' servers that each take 1.5 s to answer, one that answers 500, one
    fast: one worker delivers to them at once (a batch's POSTs run together), so the post
    reaches every slow one in about one delay, not four; the failing one is retried alone
    and the others' jobs are done."""
    alice = await make_person("alice")
    slow = [_peer(peers, "slow", delay=1.5) for _ in range(4)]
    failing, fast = _peer(peers, "error"), _peer(peers)
    for peer in (*slow, failing, fast):
        await _follows_alice(db, peer, alice.id)
    await client.post("/api/v1/statuses", json={"status": "at once"}, headers=alice.headers)
    started = time.perf_counter()
    await run_jobs()
    elapsed = time.perf_counter() - started
    assert all(len(p.posts()) == 1 for p in (*slow, fast))
    assert elapsed < 4.5, elapsed  # one after the other: at least 6 s
    jobs = await _delivery_jobs(db)
    assert [(j.payload["inbox"], j.attempts) for j in jobs] == [(f"{failing.url}/inbox", 1)]
