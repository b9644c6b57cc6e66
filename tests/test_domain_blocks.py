"""The server's blocks of other servers (suspend / silence / noop, reject_media,
reject_reports): the admin API in Mastodon's shapes, the public list, the rule that a block
covers a domain and its subdomains (Python and SQL twins agree), and what a block does to the
blocked server's accounts and posts at every door."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select

from agora.db.models import Account, ModerationAction
from agora.social.people import domain_blocks
from agora.social.people.domain_blocks import covered_by, covers
from federation_peers import make_peer
from helpers import make_admin, post_status

BLOCKS = "/api/v1/admin/domain_blocks"


async def _remote_post(db, peer, text: str = "hello from afar") -> int:  # type: ignore[no-untyped-def]
    from agora.federation.inbound_posts import store_remote_post

    async with db.session(write=True) as session:
        author = await session.get(Account, peer.id)
        post = await store_remote_post(
            session,
            author,
            {
                "id": f"{peer.uri}/statuses/{abs(hash(text))}",
                "type": "Note",
                "attributedTo": peer.uri,
                "content": f"<p>{text}</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "cc": [],
            },
        )
        await session.commit()
        assert post is not None
        return post.id


DOMAINS = [
    "remote.example",
    "sub.remote.example",
    "a.b.remote.example",
    "xremote.example",
    "remote.example.org",
    "example",
    "127.0.0.1:3001",
    None,
]
BLOCKED = [
    "remote.example",
    "example",
    "b.remote.example",
    "127.0.0.1:3001",
    "1:3001",
    "re%te.example",
]


async def test_covers_and_its_sql_twin_agree(db) -> None:
    """`covers` (Python) and `covered_by` (SQL) give the same answer for every domain and
    block: the domain itself and its subdomains, never a mere suffix, never this server."""
    async with db.session() as session:
        for blocked in BLOCKED:
            for domain in DOMAINS:
                in_sql = await session.scalar(select(covered_by(literal(domain), blocked)))
                assert bool(in_sql) == covers(blocked, domain), (blocked, domain)
    assert covers("remote.example", "sub.remote.example")
    assert not covers("remote.example", "xremote.example")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Remote.Example", "remote.example"),
        ("https://remote.example/path", "remote.example"),
        ("*.remote.example", "remote.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("127.0.0.1:3001", "127.0.0.1:3001"),
    ],
)
def test_domains_are_normalised(typed: str, stored: str) -> None:
    assert domain_blocks.normalise_domain(typed) == stored


async def test_admin_api_creates_lists_shows_updates_and_deletes(client, db, make_person) -> None:
    admin = await make_admin(db, make_person)
    r = await client.post(
        BLOCKS,
        headers=admin.headers,
        data={
            "domain": "Remote.Example",
            "severity": "suspend",
            "reject_media": "true",
            "private_comment": "spam wave",
            "public_comment": "spam",
            "obfuscate": "true",
        },
    )
    assert r.status_code == 200, r.text
    block = r.json()
    assert {k: v for k, v in block.items() if k not in ("id", "created_at", "digest")} == {
        "domain": "remote.example",
        "severity": "suspend",
        "reject_media": True,
        "reject_reports": False,
        "private_comment": "spam wave",
        "public_comment": "spam",
        "obfuscate": True,
    }
    assert block["digest"] == domain_blocks.digest("remote.example")
    other = (
        await client.post(BLOCKS, headers=admin.headers, json={"domain": "other.example"})
    ).json()
    assert other["severity"] == "silence"  # Mastodon's default

    listed = await client.get(BLOCKS, headers=admin.headers, params={"limit": 1})
    assert [b["domain"] for b in listed.json()] == ["other.example"]
    assert 'rel="next"' in listed.headers["Link"]
    shown = await client.get(f"{BLOCKS}/{block['id']}", headers=admin.headers)
    assert shown.json() == block

    changed = await client.put(
        f"{BLOCKS}/{block['id']}", headers=admin.headers, json={"severity": "silence"}
    )
    assert changed.json()["severity"] == "silence" and changed.json()["reject_media"] is True
    assert (await client.delete(f"{BLOCKS}/{block['id']}", headers=admin.headers)).json() == {}
    assert (await client.get(f"{BLOCKS}/{block['id']}", headers=admin.headers)).status_code == 404

    async with db.session() as session:
        log = await session.scalars(
            select(ModerationAction.action)
            .where(ModerationAction.target_domain == "remote.example")
            .order_by(ModerationAction.id)
        )
        assert list(log) == ["block_domain", "update_domain_block", "unblock_domain"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"domain": "not a domain"}, "not a valid domain"),
        ({"domain": ""}, "not a valid domain"),
        ({"domain": "x.example", "severity": "obliterate"}, "severity must be one of"),
        ({"domain": "x.example", "public_comment": "x" * 5001}, "too long"),
        ({"domain": "sub.taken.example"}, "already blocked"),
        ({"domain": "taken.example"}, "already blocked"),
    ],
)
async def test_admin_api_refuses_bad_blocks(client, db, make_person, body, message) -> None:
    admin = await make_admin(db, make_person)
    await client.post(BLOCKS, headers=admin.headers, json={"domain": "taken.example"})
    r = await client.post(BLOCKS, headers=admin.headers, json=body)
    assert r.status_code == 422 and message in r.json()["error"]
    assert len((await client.get(BLOCKS, headers=admin.headers)).json()) == 1


async def test_admin_api_is_for_admins_only(client, db, make_person) -> None:
    person = await make_person("pat", scopes="read write follow push admin:read admin:write")
    admin = await make_admin(db, make_person, scopes="read write")
    assert (await client.get(BLOCKS, headers=person.headers)).status_code == 403
    assert (
        await client.post(BLOCKS, headers=person.headers, json={"domain": "a.example"})
    ).status_code == 403
    assert (await client.get(BLOCKS, headers=admin.headers)).status_code == 403  # no scope
    assert (await client.get(BLOCKS)).status_code == 401
    real = await make_admin(db, make_person, "real")
    assert (await client.get(f"{BLOCKS}/12345", headers=real.headers)).status_code == 404
    assert (await client.delete(f"{BLOCKS}/12345", headers=real.headers)).status_code == 404


async def test_public_list_obfuscates_when_asked(client, db, make_person) -> None:
    admin = await make_admin(db, make_person)
    for domain, obfuscate in (("hidden-server.example", True), ("plain.example", False)):
        await client.post(
            BLOCKS,
            headers=admin.headers,
            json={
                "domain": domain,
                "severity": "suspend",
                "obfuscate": obfuscate,
                "public_comment": "why",
                "private_comment": "secret",
            },
        )
    listed = (await client.get("/api/v1/instance/domain_blocks")).json()
    assert listed == [
        {
            "domain": "hidden*******.**ample",
            "digest": domain_blocks.digest("hidden-server.example"),
            "severity": "suspend",
            "comment": "why",
        },
        {
            "domain": "plain.example",
            "digest": domain_blocks.digest("plain.example"),
            "severity": "suspend",
            "comment": "why",
        },
    ]


async def test_a_suspended_domain_vanishes_from_every_door_until_lifted(
    client, db, make_person
) -> None:
    """Suspending a server suspends its accounts: their posts and profiles answer 404 and
    leave the timelines; a subdomain is covered; lifting the block brings back exactly what
    it hid (an account an admin suspended on its own stays suspended)."""
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    bob = await make_peer(db, "bob")
    eve = await make_peer(db, "eve", "eu.remote.example")
    mallory = await make_peer(db, "mallory")
    post_id = await _remote_post(db, bob)
    await _remote_post(db, eve, "eve speaks")
    await client.post(
        f"/api/v1/admin/accounts/{mallory.id}/action",
        headers=admin.headers,
        json={"type": "suspend"},
    )
    public = await client.get("/api/v1/timelines/public", headers=alice.headers)
    assert len(public.json()) == 2

    block = (
        await client.post(
            BLOCKS, headers=admin.headers, json={"domain": "remote.example", "severity": "suspend"}
        )
    ).json()
    assert (
        await client.get(f"/api/v1/statuses/{post_id}", headers=alice.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/accounts/{bob.id}", headers=alice.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/accounts/{eve.id}", headers=alice.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/timelines/public", headers=alice.headers)).json() == []
    found = await client.get(
        "/api/v2/search", params={"q": "@bob@remote.example"}, headers=alice.headers
    )
    assert found.json()["accounts"] == []

    await client.delete(f"{BLOCKS}/{block['id']}", headers=admin.headers)
    assert (
        await client.get(f"/api/v1/statuses/{post_id}", headers=alice.headers)
    ).status_code == 200
    assert len((await client.get("/api/v1/timelines/public", headers=alice.headers)).json()) == 2
    still = await client.get(f"/api/v1/admin/accounts/{mallory.id}", headers=admin.headers)
    assert still.json()["suspended"] is True


async def test_a_silenced_domain_leaves_public_timelines_but_not_followers(
    client, db, make_person
) -> None:
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    fan = await make_person("fan")
    bob = await make_peer(db, "bob")
    async with db.session(write=True) as session:
        from agora.social.people import relationships

        await relationships.follow(session, await session.get(Account, fan.id), bob.id)
        await relationships.answer_follow_request(
            session, await session.get(Account, bob.id), fan.id, accept=True
        )
        await session.commit()
    post_id = await _remote_post(db, bob)
    await client.post(BLOCKS, headers=admin.headers, json={"domain": "remote.example"})
    assert (await client.get("/api/v1/timelines/public", headers=alice.headers)).json() == []
    fans_view = await client.get("/api/v1/timelines/public", headers=fan.headers)
    assert [s["id"] for s in fans_view.json()] == [str(post_id)]
    shown = await client.get(f"/api/v1/accounts/{bob.id}", headers=alice.headers)
    assert shown.json()["limited"] is True


async def test_an_account_first_seen_after_the_block_starts_suspended(
    db, client, make_person
) -> None:
    admin = await make_admin(db, make_person)
    await client.post(
        BLOCKS, headers=admin.headers, json={"domain": "remote.example", "severity": "suspend"}
    )
    await client.post(BLOCKS, headers=admin.headers, json={"domain": "quiet.example"})
    late = await make_peer(db, "late")
    hushed = await make_peer(db, "hushed", "quiet.example")
    async with db.session() as session:
        assert (await session.get(Account, late.id)).suspended_at is not None
        assert (await session.get(Account, hushed.id)).silenced_at is not None


async def test_media_reports_and_refusal_follow_the_flags(db, client, make_person) -> None:
    admin = await make_admin(db, make_person)
    for body in (
        {"domain": "pics.example", "severity": "noop", "reject_media": True},
        {"domain": "noisy.example", "severity": "noop", "reject_reports": True},
        {"domain": "gone.example", "severity": "suspend"},
    ):
        assert (await client.post(BLOCKS, headers=admin.headers, json=body)).status_code == 200
    async with db.session() as session:
        answers = {
            d: (
                await domain_blocks.media_allowed(session, d),
                await domain_blocks.accepts_reports(session, d),
                await domain_blocks.refuses(session, d),
            )
            for d in ("cdn.pics.example", "noisy.example", "gone.example", "fine.example", None)
        }
    assert answers == {
        "cdn.pics.example": (False, True, False),
        "noisy.example": (True, False, False),
        "gone.example": (False, False, True),
        "fine.example": (True, True, False),
        None: (True, True, False),
    }


async def test_nothing_is_delivered_to_a_suspended_domain(db, client, make_person) -> None:
    """outbox.send_delivery, which every delivery goes through, drops one to a suspended
    server without a request (a request there would fail: the address is not allowed)."""
    from agora.federation.client import FederationError
    from agora.federation.outbox import send_delivery

    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    await client.post(
        BLOCKS, headers=admin.headers, json={"domain": "127.0.0.1:9", "severity": "suspend"}
    )
    job = {"inbox": "http://127.0.0.1:9/inbox", "account_id": alice.id, "activity": {}}
    await send_delivery(db, job)  # dropped: no request, no error
    with pytest.raises(FederationError):
        await send_delivery(db, {**job, "inbox": "http://127.0.0.1:10/inbox"})


async def test_this_server_cannot_block_itself(db, client, make_person) -> None:
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    status = await post_status(client, alice, "home grown")
    r = await client.post(
        BLOCKS, headers=admin.headers, json={"domain": "TestServer", "severity": "suspend"}
    )
    assert r.status_code == 422 and "itself" in r.json()["error"]
    assert (await client.get(f"/api/v1/statuses/{status['id']}")).status_code == 200


# --- the web admin page -------------------------------------------------------------------


async def test_web_admin_page_blocks_and_lifts_with_csrf(client, db, make_person) -> None:
    from helpers import web_sign_in

    await make_admin(db, make_person, "boss")
    csrf = await web_sign_in(client, "boss")
    page = await client.get("/admin/domain_blocks")
    assert page.status_code == 200 and "No server is blocked" in page.text

    forged = await client.post(
        "/admin/domain_blocks", data={"csrf": "wrong", "domain": "bad.example"}
    )
    assert forged.status_code == 403
    refused = await client.post(
        "/admin/domain_blocks", data={"csrf": csrf, "domain": "not a domain"}
    )
    assert refused.status_code == 422 and "not a valid domain" in refused.text
    made = await client.post(
        "/admin/domain_blocks",
        data={
            "csrf": csrf,
            "domain": "bad.example",
            "severity": "suspend",
            "reject_media": "true",
            "private_comment": "spam wave",
        },
    )
    assert made.status_code == 303
    async with db.session() as session:
        block = await domain_blocks.find_block(session, "bad.example")
    assert (block.severity, block.reject_media, block.reject_reports) == ("suspend", True, False)
    page = await client.get("/admin/domain_blocks")
    assert "bad.example" in page.text and "block_domain bad.example" in page.text

    lifted = await client.post(f"/admin/domain_blocks/{block.id}/delete", data={"csrf": csrf})
    assert lifted.status_code == 303
    page = await client.get("/admin/domain_blocks")
    assert "No server is blocked" in page.text and "unblock_domain bad.example" in page.text


async def test_web_admin_page_is_for_admins_only(client, db, make_person) -> None:
    from helpers import web_sign_in

    await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    assert (await client.get("/admin/domain_blocks")).status_code == 404  # as for any page
    r = await client.post("/admin/domain_blocks", data={"csrf": csrf, "domain": "bad.example"})
    assert r.status_code == 404
    async with db.session() as session:
        assert await domain_blocks.all_blocks(session) == []
    client.cookies.clear()
    assert (await client.get("/admin/domain_blocks")).status_code == 404
