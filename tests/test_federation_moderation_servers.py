"""Moderation across real Agora servers: three `agora serve` processes (A, B, C) on loopback
ports, each with its own database, driven with Mastodon.py.

- a domain block on B (suspend) makes A's people and posts vanish on B and refuses A's
  deliveries and signed fetches; lifting it brings them back;
- a block across servers ends the follows both ways on both servers;
- a report forwarded from B lands in A's admin queue;
- an account moving from A to C moves its follower on B (a Move sent by hand);
- a person moving from A to B (the alias named in B's web settings, the move through A's
  API) takes their followers on A
  and on B along (tests/test_federation_account_fate.py has the in-process halves);
- a person deleting their account on A (web settings) disappears from B (Delete(Actor)), and
  A drops their key once that is delivered.
Each test uses its own people and leaves no block behind, so they do not depend on order.
SQLite pass only, as the other multi-server tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonNotFoundError

from agora.federation.signatures import sign_cavage
from federation_servers import (
    PASSWORD,
    Person,
    db,
    federating,
    home_texts,
    person,
    post,
    resolve,
)
from helpers import ON_POSTGRES, csrf_of
from live_server import LiveServer, started_together, wait_for

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="multi-server tests run in the SQLite pass")
ADMIN_SCOPES = ["read", "write", "follow", "push", "admin:read", "admin:write"]
AP = "application/activity+json"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LiveServer, LiveServer, LiveServer]]:
    with started_together([federating() for _ in range(3)]) as (a, b, c):
        yield a, b, c


def admin(server: LiveServer, name: str) -> Mastodon:
    """A person with the admin role on `server`, signed in with the admin scopes."""
    keys = Mastodon.create_app("moderation", api_base_url=server.url, scopes=ADMIN_SCOPES)
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True, scopes=ADMIN_SCOPES)
    with db(server) as conn:
        conn.execute(
            "UPDATE users SET is_admin = 1 WHERE account_id = "
            "(SELECT id FROM accounts WHERE username = ?)",
            (name,),
        )
    return api


def key_of(someone: Person) -> str:
    """A local account's private key, read from its server's database."""
    with db(someone.server) as conn:
        (pem,) = conn.execute(
            "SELECT private_key_pem FROM account_keys JOIN accounts ON id = account_id "
            "WHERE username = ?",
            (someone.username,),
        ).fetchone()
    return str(pem)


def signed_post(sender: Person, inbox: str, activity: dict[str, object]) -> httpx.Response:
    body = json.dumps(activity).encode()
    headers = sign_cavage(
        "POST", inbox, body, key_id=f"{sender.actor}#main-key", private_pem=key_of(sender)
    )
    return post(inbox, body, headers)


def follow(follower: Person, target: Person) -> str:
    """`follower` follows `target` on another server; the target's id on the follower's."""
    target_id = resolve(follower, target)
    follower.api.account_follow(target_id)
    wait_for(
        lambda: follower.api.account_relationships(target_id)[0].following,
        15,
        f"{follower.username}'s follow of {target.username} to be accepted",
    )
    return target_id


def test_a_domain_block_makes_a_server_vanish_and_refuses_it(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    ivy, jack = person(a, "ivy"), person(b, "jack")
    boss = admin(b, "bboss")
    ivy_on_b = follow(jack, ivy)
    ivy.api.status_post("Ivy says hello before the block")
    wait_for(lambda: any("before the block" in t for t in home_texts(jack)), 15, "ivy's post")

    block = boss.admin_create_domain_block(f"127.0.0.1:{a.port}", severity="suspend")
    try:
        assert block.severity == "suspend" and block.domain == f"127.0.0.1:{a.port}"
        assert not any("before the block" in t for t in home_texts(jack))
        with pytest.raises(MastodonNotFoundError):
            jack.api.account(ivy_on_b)
        listed = httpx.get(f"{b.url}/api/v1/instance/domain_blocks").json()
        assert [d["domain"] for d in listed] == [f"127.0.0.1:{a.port}"]
        # A's deliveries and signed fetches are refused with 403
        create = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{ivy.actor}/statuses/1/activity",
            "type": "Create",
            "actor": ivy.actor,
            "object": {
                "id": f"{ivy.actor}/statuses/1",
                "type": "Note",
                "attributedTo": ivy.actor,
                "content": "<p>sent during the block</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        }
        assert signed_post(ivy, f"{b.url}/inbox", create).status_code == 403
        fetch = httpx.get(
            f"{b.url}/users/jack",
            headers={
                "Accept": AP,
                **sign_cavage(
                    "GET",
                    f"{b.url}/users/jack",
                    None,
                    key_id=f"{ivy.actor}#main-key",
                    private_pem=key_of(ivy),
                ),
            },
        )
        assert fetch.status_code == 403
        ivy.api.status_post("Ivy posts during the block")  # B refuses it; A keeps retrying
        with db(b) as conn:
            stored = [r[0] for r in conn.execute("SELECT content_html FROM posts")]
        assert not any("during the block" in html for html in stored)
    finally:
        boss.admin_delete_domain_block(block.id)
    wait_for(lambda: any("before the block" in t for t in home_texts(jack)), 15, "ivy back")
    assert jack.api.account(ivy_on_b).acct == ivy.handle.lstrip("@")


def test_a_block_across_servers_ends_the_follows_on_both(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    gina, hank = person(a, "gina"), person(b, "hank")
    gina_on_b = follow(hank, gina)
    hank_on_a = follow(gina, hank)
    wait_for(lambda: gina.api.account_relationships(hank_on_a)[0].followed_by, 15, "on A")

    gina.api.account_block(hank_on_a)
    rel_a = gina.api.account_relationships(hank_on_a)[0]
    assert (rel_a.blocking, rel_a.following, rel_a.followed_by) == (True, False, False)
    wait_for(lambda: hank.api.account_relationships(gina_on_b)[0].blocked_by, 15, "the Block on B")
    rel_b = hank.api.account_relationships(gina_on_b)[0]
    assert (rel_b.following, rel_b.followed_by) == (False, False)
    assert hank.api.account_followers(hank.id) == []
    assert gina.api.account_followers(gina.id) == []
    with pytest.raises(Exception):  # noqa: B017 - the block refuses the follow (403)
        hank.api.account_follow(gina_on_b)

    gina.api.account_unblock(hank_on_a)
    wait_for(
        lambda: not hank.api.account_relationships(gina_on_b)[0].blocked_by,
        15,
        "the Undo(Block) on B",
    )


def test_a_forwarded_report_lands_in_the_remote_admins_queue(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    kim, liam = person(a, "kim"), person(b, "liam")
    aboss = admin(a, "aboss")
    status = kim.api.status_post("Something reportable")
    kim_on_b = resolve(liam, kim)
    found = liam.api.search_v2(status.uri, resolve=True, result_type="statuses").statuses
    status_ids = [found[0].id] if found else []
    report = liam.api.report(kim_on_b, status_ids, "This is spam", forward=True)
    assert report.forwarded is True

    def arrived() -> list[object]:
        return [r for r in aboss.admin_reports() if r.target_account.id == kim.id]

    reports = wait_for(arrived, 20, "the Flag in A's admin queue")
    assert reports[0].comment == "This is spam"
    host = f"127.0.0.1:{b.port}"
    assert reports[0].account.account.acct == f"{host}@{host}"  # B's instance actor
    if status_ids:
        assert [s.id for s in reports[0].statuses] == [status.id]
    wait_for(  # told by a job, once the report is stored
        lambda: any(n.type == "admin.report" for n in aboss.notifications()), 10, "the notice"
    )


def test_an_account_move_moves_the_remote_follower(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, c = servers
    mia, bob, nora = person(a, "mia"), person(b, "bob"), person(c, "nora")
    follow(bob, mia)
    mia_on_b = resolve(bob, mia)
    with db(c) as conn:  # nora names mia as her former identity (alsoKnownAs)
        conn.execute(
            "UPDATE accounts SET also_known_as = ? WHERE username = 'nora'",
            (json.dumps([mia.actor]),),
        )
    doc = httpx.get(nora.actor, headers={"Accept": AP}).json()
    assert doc["alsoKnownAs"] == [mia.actor]
    move = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{mia.actor}#moves/1",
        "type": "Move",
        "actor": mia.actor,
        "object": mia.actor,
        "target": nora.actor,
    }
    assert signed_post(mia, f"{b.url}/inbox", move).status_code == 202

    nora_on_b = wait_for(
        lambda: [a.id for a in bob.api.account_following(bob.id) if a.acct.startswith("nora@")],
        20,
        "bob to follow nora on C",
    )[0]
    assert bob.api.account_relationships(mia_on_b)[0].following is False
    notes = wait_for(lambda: [n for n in bob.api.notifications() if n.type == "move"], 10, "move")
    assert notes[0].account.id == mia_on_b and notes[0].target.id == nora_on_b
    wait_for(lambda: nora.api.account_followers(nora.id), 15, "bob among nora's followers")
    wait_for(lambda: not mia.api.account_followers(mia.id), 15, "bob gone from mia's followers")


def test_a_move_to_an_account_that_does_not_name_the_mover_changes_nothing(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, c = servers
    omar, pia, quinn = person(a, "omar"), person(b, "pia"), person(c, "quinn")
    omar_on_b = follow(pia, omar)
    move = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{omar.actor}#moves/1",
        "type": "Move",
        "actor": omar.actor,
        "object": omar.actor,
        "target": quinn.actor,
    }
    assert signed_post(omar, f"{b.url}/inbox", move).status_code == 202
    with db(b) as conn:
        wait_for(
            lambda: not conn.execute("SELECT 1 FROM jobs WHERE kind = 'ap_move'").fetchone(),
            15,
            "the Move to be checked",
        )
    assert pia.api.account_relationships(omar_on_b)[0].following is True
    assert [n for n in pia.api.notifications() if n.type == "move"] == []


def api_post(someone: Person, path: str, form: dict[str, str]) -> httpx.Response:
    token = someone.api.access_token
    return httpx.post(
        f"{someone.server.url}{path}",
        json=form,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_move_from_a_to_b_moves_the_followers_on_both(servers) -> None:  # type: ignore[no-untyped-def]
    """An outgoing Move, through the API: the aliases, the move, followers on A and B."""
    a, b, _ = servers
    mover, carl = person(a, "mover"), person(a, "carl")  # carl follows mover on A
    newme, bea = person(b, "newme"), person(b, "bea")  # bea follows mover from B
    carl.api.account_follow(mover.id)
    mover_on_b = follow(bea, mover)
    new_handle = newme.handle.lstrip("@")

    refused = api_post(mover, "/api/v1/agora/account/move", {"target_acct": new_handle})
    assert refused.status_code == 422  # no password, and newme names nobody yet
    with signed_in_browser(newme) as browser:  # the web settings page names the old account
        form = browser.get("/settings/migration")
        added = browser.post(
            "/settings/migration/aliases", data={"csrf": csrf_of(form.text), "acct": mover.handle}
        )
        assert added.status_code == 303, added.text
    aliases = httpx.get(
        f"{b.url}/api/v1/agora/account/aliases",
        headers={"Authorization": f"Bearer {newme.api.access_token}"},
    )
    assert aliases.json() == {"aliases": [mover.actor]}
    assert httpx.get(newme.actor, headers={"Accept": AP}).json()["alsoKnownAs"] == [mover.actor]

    moved = api_post(
        mover,
        "/api/v1/agora/account/move",
        {"target_acct": new_handle, "password": PASSWORD},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["local_followers_moved"] == 1
    newme_on_a = moved.json()["moved_to"]["id"]
    assert httpx.get(mover.actor, headers={"Accept": AP}).json()["movedTo"] == newme.actor

    # carl (A) follows newme on B once B accepts, and no longer mover
    wait_for(lambda: carl.api.account_relationships(newme_on_a)[0].following, 20, "carl -> newme")
    assert carl.api.account_relationships(mover.id)[0].following is False
    # bea (B) got the Move: he follows newme, his neighbour on B, and no longer mover
    wait_for(
        lambda: bea.api.account_relationships(newme.id)[0].following, 20, "bea -> newme (Move)"
    )
    assert bea.api.account_relationships(mover_on_b)[0].following is False
    assert any(n.type == "move" for n in bea.api.notifications())
    assert any(n.type == "move" for n in carl.api.notifications())
    followers = wait_for(
        lambda: len(newme.api.account_followers(newme.id)) == 2 or None, 20, "2 followers"
    )
    assert followers
    wait_for(lambda: not mover.api.account_followers(mover.id), 40, "mover left with none")


@contextmanager
def signed_in_browser(someone: Person) -> Iterator[httpx.Client]:
    """A browser signed in to `someone`'s server as them."""
    with httpx.Client(base_url=someone.server.url, timeout=30) as browser:
        page = browser.get("/auth/sign_in")
        signed_in = browser.post(
            "/auth/sign_in",
            data={"csrf": csrf_of(page.text), "username": someone.username, "password": PASSWORD},
        )
        assert signed_in.status_code == 303, signed_in.text
        yield browser


def web_delete(someone: Person) -> None:
    """Delete `someone`'s account in the web settings."""
    with signed_in_browser(someone) as browser:
        form = browser.get("/settings/delete")
        done = browser.post(
            "/settings/delete", data={"csrf": csrf_of(form.text), "password": PASSWORD}
        )
        assert done.status_code == 200 and "Account deleted" in done.text


def test_deleting_an_account_on_a_removes_it_from_b(servers) -> None:  # type: ignore[no-untyped-def]
    """Delete(Actor) on account deletion (web settings), and the key dropped after."""
    a, b, _ = servers
    dora, erin = person(a, "dora"), person(b, "erin")
    dora_on_b = follow(erin, dora)
    dora.api.status_post("Goodbye, fediverse")
    wait_for(lambda: "Goodbye, fediverse" in " ".join(home_texts(erin)), 20, "the post on B")

    web_delete(dora)

    def gone() -> bool:
        r = httpx.get(f"{b.url}/api/v1/accounts/{dora_on_b}")
        return r.status_code == 404

    wait_for(gone, 20, "dora to be gone on B")
    assert "Goodbye, fediverse" not in " ".join(home_texts(erin))
    assert erin.api.account_relationships(dora_on_b)[0].following is False
    with db(b) as conn:
        (suspended,) = conn.execute(
            "SELECT suspended_at FROM accounts WHERE uri = ?", (dora.actor,)
        ).fetchone()
    assert suspended is not None

    def key_dropped() -> bool:
        with db(a) as conn:
            row = conn.execute(
                "SELECT count(*) FROM account_keys JOIN accounts ON id = account_id "
                "WHERE username = 'dora'"
            ).fetchone()
        return row is not None and row[0] == 0

    wait_for(key_dropped, 30, "A to drop dora's key once the Delete is delivered")
