"""What happens to an account across servers, through this server's own doors and inbox (in
process; the two-server run is tests/test_federation_account_fate_servers.py):

- a deleted local account sends Delete(Actor) to each server that knew it, signed with its
  key, which is dropped only once those deliveries are done (and never made anew);
- a local person moves to an account that names them as an alias: local followers move,
  Move goes to the remote followers' servers, the actor document says `movedTo`; refused
  without the password or the alias;
- a moved account shows `moved` (the API's Account entity) and "has moved to" (its web
  profile); following it follows the new account; a second move within 30 days is refused;
- a Move received from another server to a local account naming it as an alias moves the
  local followers, and a second one within 30 days is ignored;
- a received Update(Note) replaces the post's mentions and hashtags and notifies the newly
  mentioned once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update

from agora.db.models import (
    Account,
    AccountKey,
    Follow,
    FollowRequest,
    Job,
    Mention,
    Notification,
    PostTag,
    Tag,
    utcnow,
)
from agora.federation import outbox
from agora.federation.keys import key_pair
from agora.social.people import relationships
from agora.social.people.account_deletion import delete_own_account
from agora.social.people.account_moves import NOT_AN_ALIAS, WRONG_PASSWORD, move_own_account
from agora.social.people.accounts import set_alias
from agora.social.people.remote_accounts import ON_COOLDOWN
from agora.social.rules.errors import Invalid
from federation_peers import BASE, DEAD_INBOX, deliver, make_peer, queued
from helpers import PASSWORD

AP = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


async def _follow(db, follower_id: int, target_id: int) -> None:  # type: ignore[no-untyped-def]
    """`follower` follows `target` (a remote target's request accepted at once)."""
    async with db.session(write=True) as session:
        follower = await session.get(Account, follower_id)
        target = await session.get(Account, target_id)
        await relationships.follow(session, follower, target_id)
        if target.domain is not None:
            await relationships.answer_follow_request(session, target, follower_id, accept=True)
        await session.commit()


async def _count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


# --- account deletion ---------------------------------------------------------------------


async def test_a_deleted_account_sends_delete_to_each_server_and_drops_its_key_after(
    db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    bob = await make_peer(db, "bob")  # follows alice
    carol = await make_peer(db, "carol", "other.example")  # alice asked to follow her
    await make_peer(db, "stranger", "third.example")  # knows nothing of alice
    other_inbox = "http://127.0.0.1:9/other/inbox"
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == carol.id).values(inbox_url=other_inbox)
        )
        await relationships.follow(session, await session.get(Account, bob.id), alice.id)
        await relationships.follow(session, await session.get(Account, alice.id), carol.id)
        await session.commit()
    pair = await key_pair(db, alice.id)  # she has signed before
    async with db.session() as session:
        assert await session.scalar(select(FollowRequest.id)) is not None
    await run_jobs()
    async with db.session(write=True) as session:
        await session.execute(delete(Job))
        await session.commit()

    async with db.session(write=True) as session:
        await delete_own_account(session, await session.get(Account, alice.id), PASSWORD)
    await run_jobs()

    deliveries = await queued(db, "ap_deliver")
    assert sorted(d["inbox"] for d in deliveries) == sorted([DEAD_INBOX, other_inbox])
    actor = f"{BASE}/users/alice"
    for sent in deliveries:
        assert sent["account_id"] == alice.id
        assert sent["activity"]["type"] == "Delete"
        assert sent["activity"]["object"] == actor and sent["activity"]["actor"] == actor
    assert await queued(db, "delete_account") == []  # erased; follows gone
    assert await _count(db, Follow) == 0
    # the key outlives the erasure while deliveries signed with it wait
    assert await queued(db, "drop_account_key") == [{"account_id": alice.id}]
    async with db.session(write=True) as session:
        await session.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
        await session.execute(delete(Job).where(Job.kind == "ap_deliver"))  # leaving one
        await session.commit()
    async with db.session(write=True) as session:
        outbox.deliver(session, await session.get(Account, alice.id), {DEAD_INBOX}, {"id": "x"})
        await session.commit()
    await run_jobs()
    assert await _count(db, AccountKey, AccountKey.account_id == alice.id) == 1
    assert await queued(db, "drop_account_key") == [{"account_id": alice.id}]

    # the last delivery is done: its end wakes the postponed drop, and the key goes, public
    # half too
    drop_at = select(Job.run_at).where(Job.kind == "drop_account_key")
    async with db.session() as session:
        assert await session.scalar(drop_at) > utcnow() + timedelta(seconds=60)
    async with db.session(write=True) as session:
        await session.execute(delete(Job).where(Job.kind == "ap_deliver"))
        last = {"inbox": DEAD_INBOX, "account_id": alice.id, "activity": {"id": "x"}}
        await outbox.delivery_sent(session, last, None)  # type: ignore[arg-type]
        await session.commit()
    async with db.session() as session:
        assert await session.scalar(drop_at) <= utcnow()
    await run_jobs()
    assert await queued(db, "drop_account_key") == []
    assert await _count(db, AccountKey, AccountKey.account_id == alice.id) == 0
    async with db.session() as session:
        assert (await session.get(Account, alice.id)).public_key_pem is None
    # a late delivery of the deleted account is dropped, never signed with a fresh key (a
    # try would fail: the inbox is a refused loopback address)
    await outbox.send_delivery(
        db, {"inbox": DEAD_INBOX, "account_id": alice.id, "activity": {"id": "late"}}
    )
    assert await _count(db, AccountKey, AccountKey.account_id == alice.id) == 0
    assert pair.private_pem  # the key she had is the one the Delete was signed with


async def test_an_account_nobody_elsewhere_knows_sends_nothing(db, make_person, run_jobs) -> None:
    alice = await make_person("alice")
    dave = await make_person("dave")
    await _follow(db, dave.id, alice.id)
    async with db.session(write=True) as session:
        await delete_own_account(session, await session.get(Account, alice.id), PASSWORD)
    assert await queued(db, "federate_account_delete") == []
    await run_jobs()
    assert await queued(db, "ap_deliver") == []
    assert await queued(db, "drop_account_key") == []  # no key, no delivery: dropped at once


# --- moving one's account -------------------------------------------------------------------


async def test_moving_to_an_account_that_names_me_moves_my_followers(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    dave = await make_person("dave")
    bob = await make_peer(db, "bob")  # a remote follower
    new = await make_peer(db, "alice", "elsewhere.example")
    await _follow(db, dave.id, alice.id)
    await _follow(db, bob.id, alice.id)
    await run_jobs()
    async with db.session(write=True) as session:
        await session.execute(delete(Job))
        await session.commit()
    me = f"{BASE}/users/alice"

    async def move(password: str) -> int:
        async with db.session(write=True) as session:
            account = await session.get(Account, alice.id)
            return await move_own_account(session, account, password, new.id, me)

    for password, message in (("wrong", WRONG_PASSWORD), (PASSWORD, NOT_AN_ALIAS)):
        try:
            await move(password)
        except Invalid as exc:
            assert exc.message == message
        else:
            raise AssertionError("the move should be refused")
    assert await _count(db, Follow, Follow.account_id == dave.id) == 1
    async with db.session(write=True) as session:  # the new account names alice (fetched)
        await session.execute(
            update(Account).where(Account.id == new.id).values(also_known_as=[me])
        )
        await session.commit()

    assert await move(PASSWORD) == 1
    async with db.session() as session:
        assert (await session.get(Account, alice.id)).moved_to_account_id == new.id
        assert await session.scalar(
            select(FollowRequest.id).where(
                FollowRequest.account_id == dave.id, FollowRequest.target_account_id == new.id
            )
        )
    assert await _count(db, Follow, Follow.account_id == dave.id) == 0
    notes = (await client.get("/api/v1/notifications", headers=dave.headers)).json()
    assert [(n["type"], n["target"]["acct"]) for n in notes] == [
        ("move", "alice@elsewhere.example")
    ]
    await run_jobs()
    moves = [d for d in await queued(db, "ap_deliver") if d["activity"]["type"] == "Move"]
    assert [(d["inbox"], d["account_id"]) for d in moves] == [(DEAD_INBOX, alice.id)]
    assert moves[0]["activity"]["object"] == me and moves[0]["activity"]["target"] == new.uri
    doc = (await client.get("/users/alice", headers={"Accept": AP})).json()
    assert doc["movedTo"] == new.uri


async def test_the_move_api_refuses_bad_requests(client, make_person) -> None:
    alice = await make_person("alice")
    await make_person("dave")
    url = "/api/v1/agora/account/move"
    cases = [
        ({"target_acct": "dave", "password": "wrong"}, 422),
        ({"target_acct": "dave", "password": PASSWORD}, 422),  # dave does not name alice
        ({"target_acct": "nobody", "password": PASSWORD}, 404),
        ({"target_acct": "x@127.0.0.1:9", "password": PASSWORD}, 422),  # cannot be fetched
    ]
    for form, status in cases:
        r = await client.post(url, headers=alice.headers, json=form)
        assert r.status_code == status, (form, r.text)
    assert (await client.post(url, json=cases[0][0])).status_code == 401
    aliases = "/api/v1/agora/account/aliases"
    assert (await client.get(aliases, headers=alice.headers)).json() == {"aliases": []}
    r = await client.post(aliases, headers=alice.headers, json={"acct": "dave"})
    assert r.status_code == 422  # an alias is an account elsewhere


async def test_a_moved_account_shows_moved_redirects_follows_and_cools_down(
    client, db, make_person
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    carol = await make_person("carol")
    erin = await make_person("erin")
    me = f"{BASE}/users/alice"
    async with db.session(write=True) as session:  # both name alice (as a local alias would)
        await session.execute(
            update(Account).where(Account.id.in_([bob.id, carol.id])).values(also_known_as=[me])
        )
        await session.commit()
    url = "/api/v1/agora/account/move"
    r = await client.post(
        url, headers=alice.headers, json={"target_acct": "bob", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    shown = [
        (await client.get(f"/api/v1/accounts/{alice.id}")).json(),
        (await client.get("/api/v1/accounts/lookup?acct=alice")).json(),
        (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json(),
        (await client.get("/api/v2/search?q=alice&type=accounts", headers=erin.headers)).json()[
            "accounts"
        ][0],
    ]
    assert [a["moved"]["id"] for a in shown] == [str(bob.id)] * 4
    assert "moved" not in (await client.get(f"/api/v1/accounts/{bob.id}")).json()
    page = (await client.get("/@alice")).text
    assert "has moved to" in page and 'href="/@bob"' in page
    assert "has moved to" not in (await client.get("/@bob")).text

    # following the old account follows the new one
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=erin.headers)
    assert r.status_code == 200 and r.json()["id"] == str(bob.id) and r.json()["following"]
    async with db.session() as session:
        followed = set(
            await session.scalars(
                select(Follow.target_account_id).where(Follow.account_id == erin.id)
            )
        )
    assert followed == {bob.id}

    # a second move within 30 days: refused, nothing changes; after them, allowed
    again = {"target_acct": "carol", "password": PASSWORD}
    r = await client.post(url, headers=alice.headers, json=again)
    assert r.status_code == 422 and r.json()["error"] == ON_COOLDOWN
    async with db.session(write=True) as session:
        assert (await session.get(Account, alice.id)).moved_to_account_id == bob.id
        await session.execute(
            update(Account)
            .where(Account.id == alice.id)
            .values(moved_at=utcnow() - timedelta(days=31))
        )
        await session.commit()
    r = await client.post(url, headers=alice.headers, json=again)
    assert r.status_code == 200, r.text
    moved = (await client.get(f"/api/v1/accounts/{alice.id}")).json()["moved"]
    assert moved["id"] == str(carol.id)


async def test_a_received_move_to_a_local_account_naming_it_moves_followers(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")  # the new account, here
    dave = await make_person("dave")
    old = await make_peer(db, "old")
    liar = await make_peer(db, "liar", "other.example")
    await _follow(db, dave.id, old.id)
    await _follow(db, dave.id, liar.id)
    # alice names only `old`: a Move of `liar` to her changes nothing
    r = await client.post(
        "/api/v1/agora/account/aliases", headers=alice.headers, json={"acct": "nobody@x"}
    )
    assert r.status_code == 422
    async with db.session(write=True) as session:
        await set_alias(session, "alice", old.uri, keep=True)
    target = f"{BASE}/users/alice"
    await deliver(client, liar, liar.activity("Move", liar.uri, "mv-1", target=target))
    await deliver(client, old, old.activity("Move", old.uri, "mv-2", target=target))
    await run_jobs()
    async with db.session() as session:
        followed = set(
            await session.scalars(
                select(Follow.target_account_id).where(Follow.account_id == dave.id)
            )
        )
        assert followed == {alice.id, liar.id}
        assert (await session.get(Account, old.id)).moved_to_account_id == alice.id
        assert (await session.get(Account, liar.id)).moved_to_account_id is None
    assert await queued(db, "ap_move") == []  # a local target needs no fetch

    # moving again within 30 days (to another local account naming it) is ignored
    carol = await make_person("carol")
    async with db.session(write=True) as session:
        await set_alias(session, "carol", old.uri, keep=True)
    await deliver(client, old, old.activity("Move", old.uri, "mv-3", target=f"{BASE}/users/carol"))
    await run_jobs()
    async with db.session() as session:
        assert (await session.get(Account, old.id)).moved_to_account_id == alice.id
    assert (
        await _count(db, Follow, Follow.account_id == dave.id, Follow.target_account_id == carol.id)
        == 0
    )


# --- Update(Note): mentions and hashtags --------------------------------------------------


def _note(bob_uri: str, text: str, mentioned: list[str], tags: list[str]) -> dict[str, object]:
    return {
        "id": f"{bob_uri}/statuses/1",
        "type": "Note",
        "attributedTo": bob_uri,
        "content": f"<p>{text}</p>",
        "to": [PUBLIC],
        "cc": [f"{bob_uri}/followers", *mentioned],
        "updated": "2999-01-01T00:00:00Z",
        "tag": [{"type": "Mention", "href": m} for m in mentioned]
        + [{"type": "Hashtag", "name": f"#{t}", "href": f"https://x/tags/{t}"} for t in tags],
    }


async def _mentions_and_tags(db) -> tuple[set[int], set[str]]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        mentioned = set(await session.scalars(select(Mention.account_id)))
        tags = set(await session.scalars(select(Tag.name).join(PostTag, PostTag.tag_id == Tag.id)))
        return mentioned, tags


async def _mention_notes(db, account_id: int) -> int:  # type: ignore[no-untyped-def]
    return await _count(
        db, Notification, Notification.account_id == account_id, Notification.type == "mention"
    )


async def test_a_received_update_replaces_mentions_and_hashtags(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    carol = await make_person("carol")
    bob = await make_peer(db, "bob")
    other = await make_peer(db, "other", "other.example")
    a_uri, c_uri = f"{BASE}/users/alice", f"{BASE}/users/carol"
    first = _note(bob.uri, "hi @alice #First", [a_uri], ["First"])
    await deliver(client, bob, bob.activity("Create", first, "c-1"))
    await run_jobs()
    assert await _mentions_and_tags(db) == ({alice.id}, {"first"})
    assert (await _mention_notes(db, alice.id), await _mention_notes(db, carol.id)) == (1, 0)

    second = _note(bob.uri, "hi @carol @other #Second", [c_uri, other.uri], ["Second"])
    await deliver(client, bob, bob.activity("Update", second, "u-1"))
    await run_jobs()
    assert await _mentions_and_tags(db) == ({carol.id, other.id}, {"second"})
    assert (await _mention_notes(db, alice.id), await _mention_notes(db, carol.id)) == (1, 1)
    tagged = (await client.get("/api/v1/timelines/tag/second", headers=alice.headers)).json()
    assert [s["uri"] for s in tagged] == [first["id"]]
    assert (await client.get("/api/v1/timelines/tag/first", headers=alice.headers)).json() == []

    # mentioning both again notifies nobody twice
    third = _note(bob.uri, "hi @alice @carol", [a_uri, c_uri], [])
    await deliver(client, bob, bob.activity("Update", third, "u-2"))
    await run_jobs()
    assert await _mentions_and_tags(db) == ({alice.id, carol.id}, set())
    assert (await _mention_notes(db, alice.id), await _mention_notes(db, carol.id)) == (1, 1)


async def test_the_migration_settings_page(app, client, db, make_person) -> None:
    """The web page lists the aliases and refuses what the API refuses, with the reason."""
    import httpx

    from helpers import web_sign_in

    alice = await make_person("alice")
    await make_person("dave")
    old = await make_peer(db, "old")
    async with db.session(write=True) as session:
        await set_alias(session, "alice", old.uri, keep=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        csrf = await web_sign_in(browser, "alice")
        page = await browser.get("/settings/migration")
        assert page.status_code == 200 and old.uri in page.text
        local = await browser.post(
            "/settings/migration/aliases", data={"csrf": csrf, "acct": "dave"}
        )
        assert local.status_code == 422 and "another server" in local.text
        unreachable = await browser.post(
            "/settings/migration/aliases", data={"csrf": csrf, "acct": "x@127.0.0.1:9"}
        )
        assert unreachable.status_code == 422 and "cannot be resolved" in unreachable.text
        for password, message in (("wrong", WRONG_PASSWORD), (PASSWORD, "alias")):
            r = await browser.post(
                "/settings/migration",
                data={"csrf": csrf, "target_acct": "dave", "password": password},
            )
            assert r.status_code == 422 and message in r.text
        removed = await browser.post(
            "/settings/migration/aliases/remove", data={"csrf": csrf, "uri": old.uri}
        )
        assert removed.status_code == 303
    async with db.session() as session:
        assert (await session.get(Account, alice.id)).also_known_as is None


async def test_each_undo_follow_sent_has_an_id_of_its_own(
    client, db, make_person, run_jobs
) -> None:
    """A receiver drops an activity whose id it has seen: two people here unfollowing (a
    moved account's followers do) must send two Undo(Follow)s with different ids."""
    alice = await make_person("alice")
    dave = await make_person("dave")
    bob = await make_peer(db, "bob")
    for someone in (alice, dave):
        await _follow(db, someone.id, bob.id)
    await run_jobs()
    for someone in (alice, dave):
        r = await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=someone.headers)
        assert r.status_code == 200
    await run_jobs()
    undos = [
        d["activity"] for d in await queued(db, "ap_deliver") if d["activity"]["type"] == "Undo"
    ]
    assert len(undos) == 2 and undos[0]["id"] != undos[1]["id"]
    assert {u["object"]["actor"] for u in undos} == {f"{BASE}/users/alice", f"{BASE}/users/dave"}
    assert all(u["id"].startswith(f"{BASE}/") for u in undos)  # on this server (same origin)
