"""Remote authors' consent (both databases): what an actor document, its profile and its
profile page say is read on every fetch, stored as the author's choices, and honoured by the
consent rule (the assistant's context) and by the assistant's mention handling (#nobot).

The profile-page case fetches from a real HTTP server on a loopback port (the standard
library's), serving a Mastodon-shaped actor and profile page."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from agora.ai.context import thread_context
from agora.ai.mentions import prepare
from agora.config import get_settings
from agora.data import consent
from agora.data.consent import Category
from agora.db.models import Account, AssistantReply, Post
from agora.federation.actors import fetch_actor, parse_actor, store_actor
from agora.federation.inbound_posts import store_remote_post
from agora.federation.keys import generate_key_pair
from agora.federation.remote_consent import note_opts_out, read_actor, robots_directives
from assistant_support import assistant_account
from helpers import post_status

PEM = generate_key_pair().public_pem
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AI = {Category.GENAI_TEXT, Category.GENAI_IMAGES, Category.BULK_DATASET, Category.ASSISTANT}


def actor_doc(base: str, name: str, **extra: Any) -> dict[str, Any]:
    """A Mastodon-shaped actor document."""
    uri = f"{base}/users/{name}"
    return {
        "id": uri,
        "type": "Person",
        "preferredUsername": name,
        "url": f"{base}/@{name}",
        "inbox": f"{uri}/inbox",
        "followers": f"{uri}/followers",
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PEM},
        **extra,
    }


def denied(doc: dict[str, Any]) -> dict[Category, str]:
    """The categories a document refuses, with the signal that refused each."""
    return {c: v.source for c, v in read_actor(doc).choices.items() if not v.allow}


# --- reading the signals ------------------------------------------------------------------


def test_agora_data_reuse_is_read_as_published() -> None:
    doc = actor_doc(
        "https://a.example",
        "ann",
        dataReuse={
            "assistantContext": {"allow": False, "updatedAt": "2026-12-01T00:00:00Z"},
            "syntheticContentGeneration": {"allow": True},
            "notACategory": {"allow": False},
            "bulkDataset": "no",  # not the shape: ignored
        },
    )
    found = read_actor(doc)
    assert {c: v.allow for c, v in found.choices.items()} == {
        Category.ASSISTANT: False,
        Category.GENAI_TEXT: True,
    }
    assert found.publishes_intents and not found.no_bot


@pytest.mark.parametrize("prefixed", [False, True])
def test_bluesky_shaped_intents(prefixed: bool) -> None:
    key = ("org.user-intents." if prefixed else "") + "syntheticContentGeneration"
    declaration = {
        "$type": "org.user-intents.declaration",
        key: {"allow": False, "updatedAt": "2025-02-20T21:37:20.362Z"},
        "protocolBridging": {"allow": True},
    }
    found = read_actor(actor_doc("https://b.example", "bo", userIntents=declaration))
    assert {c: (v.allow, v.source) for c, v in found.choices.items()} == {
        Category.GENAI_TEXT: (False, "userIntents"),
        Category.BRIDGING: (True, "userIntents"),
    }
    # without the $type it is not a declaration
    plain = {k: v for k, v in declaration.items() if k != "$type"}
    assert read_actor(actor_doc("https://b.example", "bo", userIntents=plain)).choices == {}


@pytest.mark.parametrize(
    ("where", "expected", "no_bot"),
    [
        ({"summary": "<p>Artist. <a href='x'>#<span>NoAI</span></a></p>"}, AI, False),
        ({"summary": "<p>I post things #nobot</p>"}, {Category.ASSISTANT}, True),
        ({"tag": [{"type": "Hashtag", "name": "#nobridge"}]}, {Category.BRIDGING}, False),
        (
            {"attachment": [{"type": "PropertyValue", "name": "bots", "value": "#nobot"}]},
            {Category.ASSISTANT},
            True,
        ),
        ({"summary": "I write about #noaiart and ##nobot and foo#noai"}, set(), False),
    ],
)
def test_profile_hashtags(where: dict[str, Any], expected: set[Category], no_bot: bool) -> None:
    doc = actor_doc("https://c.example", "cy", **where)
    assert set(denied(doc)) == expected
    assert read_actor(doc).no_bot is no_bot


def test_a_refusal_from_any_signal_wins_over_an_allow() -> None:
    doc = actor_doc(
        "https://d.example",
        "di",
        summary="#nobot please",
        dataReuse={"assistantContext": {"allow": True}, "bulkDataset": {"allow": True}},
    )
    found = read_actor(doc)
    assert found.choices[Category.ASSISTANT] == consent.RemoteChoice(False, "#nobot")
    assert found.choices[Category.BULK_DATASET] == consent.RemoteChoice(True, "dataReuse")


def test_robots_directives_from_headers_and_meta() -> None:
    head = (
        '<html><head><meta charset="utf-8"><META content="noindex, NoAI" name=\'robots\'>'
        '<meta name="description" content="noimageai"></head>'
    )
    assert robots_directives([], head) == {"noindex", "noai"}
    headers = [("X-Robots-Tag", "noimageai"), ("x-robots-tag", "googlebot: noai")]
    assert robots_directives(headers, "") == {"noimageai"}  # one crawler's line is not ours


def test_a_note_opts_out_by_its_override_or_hashtag() -> None:
    assert note_opts_out({"dataReuse": {"noAiReuse": True}})
    assert not note_opts_out({"dataReuse": {"noAiReuse": False}})
    assert note_opts_out({"tag": [{"type": "Hashtag", "name": "#NoAI"}]})
    assert not note_opts_out({"tag": [{"type": "Hashtag", "name": "#art"}], "dataReuse": "yes"})


# --- stored, and honoured ------------------------------------------------------------------


async def _store(db, doc: dict[str, Any]) -> Account:
    async with db.session(write=True) as session:
        account = await store_actor(session, parse_actor(doc, doc["id"]))
        await session.commit()
        return account


async def test_choices_are_stored_and_replaced_on_the_next_fetch(client, db, make_person) -> None:
    viewer = await make_person("viewer")
    base = "https://e.example"
    account = await _store(db, actor_doc(base, "eve", summary="#noai #nobot"))
    assert account.no_bot is True
    assert {c: consent.allows(account, c) for c in AI} == dict.fromkeys(AI, False)
    assert account.data_reuse["assistantContext"]["source"] in {"#noai", "#nobot"}
    # the Account entity shows what her server said
    body = (await client.get(f"/api/v1/accounts/{account.id}", headers=viewer.headers)).json()
    assert body["agora"]["data_reuse"]["syntheticContentGeneration"]["allow"] is False
    # she changes her profile: the next fetch (or Update) replaces the choices
    again = await _store(db, actor_doc(base, "eve", summary="hello"))
    assert again.id == account.id and again.no_bot is False and again.data_reuse == {}
    assert consent.allows(again, Category.ASSISTANT) is True


async def test_python_rule_and_sql_twin_agree_on_stored_remote_choices(db) -> None:
    """may_use == allowed_sql for a remote author whose choices came from their server
    (the stored entries carry a `source`), every choice x override x category."""
    account = await _store(db, actor_doc("https://f.example", "fay"))
    async with db.session(write=True) as session:
        posts = {}
        for override in (True, False):
            post = Post(account_id=account.id, text="x", content_html="x", no_ai_reuse=override)
            post.created_at = account.created_at
            session.add(post)
            posts[override] = post
        await session.commit()
        for choice in (True, False, None):
            for category in Category:
                choices = {} if choice is None else {category: consent.RemoteChoice(choice, "t")}
                await session.execute(
                    update(Account)
                    .where(Account.id == account.id)
                    .values(data_reuse=consent.remote_data_reuse(choices))
                )
                await session.commit()
                stored = await session.get(Account, account.id, populate_existing=True)
                for override, post in posts.items():
                    expected = consent.may_use(stored, post, category)
                    found = await session.scalar(
                        select(Post.id)
                        .join(Account, Account.id == Post.account_id)
                        .where(Post.id == post.id, consent.allowed_sql(category))
                    )
                    assert (found is not None) == expected, (choice, override, category)
                    allowed = category is Category.ASSISTANT and choice is not False
                    assert expected is (allowed and not override)


async def test_the_assistant_reads_remote_posts_only_when_their_authors_let_it(
    client, db, make_person
) -> None:
    alice = await make_person("alice")
    root = await post_status(client, alice, "What do you all think?")
    base = "https://g.example"
    authors = {
        "plain": actor_doc(base, "plain"),
        "noai": actor_doc(base, "noai", summary="#NoAI"),
        "nobot": actor_doc(base, "nobot", tag=[{"type": "Hashtag", "name": "#nobot"}]),
        "refuses": actor_doc(base, "refuses", dataReuse={"assistantContext": {"allow": False}}),
    }
    texts = {}
    async with db.session(write=True) as session:
        for name, doc in authors.items():
            author = await store_actor(session, parse_actor(doc, doc["id"]))
            for suffix, extra in (("", {}), (" (opted out)", {"dataReuse": {"noAiReuse": True}})):
                note = {
                    "id": f"{doc['id']}/statuses/{len(texts)}",
                    "type": "Note",
                    "attributedTo": doc["id"],
                    "content": f"<p>reply by {name}{suffix}</p>",
                    "to": [PUBLIC],
                    **extra,
                }
                post = await store_remote_post(session, author, note)
                assert post is not None
                post.thread_root_id = int(root["id"])  # a reply in alice's thread
                texts[post.id] = f"reply by {name}{suffix}"
        await session.commit()
    asked = await post_status(client, alice, "@assistant sum up", in_reply_to_id=root["id"])
    async with db.session() as session:
        context = await thread_context(session, alice.id, int(asked["id"]), 100_000)
        usable = await consent.usable_post_ids(session, Category.ASSISTANT, texts)
    read = {p.text for p in context.posts}
    assert read == {"What do you all think?", "reply by plain"}
    assert {texts[i] for i in usable} == {"reply by plain"}


async def test_the_assistant_never_answers_a_remote_nobot_account(db) -> None:
    """A note from another server that mentions the assistant: the #nobot author's is skipped
    before anything is read or asked; the same note by an author without #nobot is not."""
    from agora.ai.mentions import _should_answer

    assistant = await assistant_account(db)
    base = "https://i.example"
    asked = {}
    async with db.session(write=True) as session:
        for name, extra in (("shy", {"summary": "#NoBot"}), ("chatty", {})):
            doc = actor_doc(base, name, **extra)
            author = await store_actor(session, parse_actor(doc, doc["id"]))
            note = {
                "id": f"{doc['id']}/statuses/1",
                "type": "Note",
                "attributedTo": doc["id"],
                "content": "<p>@assistant hello?</p>",
                "to": [PUBLIC, f"{get_settings().base_url}/users/{assistant.username}"],
            }
            post = await store_remote_post(session, author, note)
            assert post is not None
            asked[name] = post.id
        await session.commit()
    assert await prepare(db, {"post_id": asked["shy"]}) == prepare_skipped()
    async with db.session() as session:
        assert await _should_answer(session, asked["shy"]) is None
        assert await _should_answer(session, asked["chatty"]) is not None


async def test_the_assistant_never_answers_a_nobot_account(client, db, make_person, run_jobs):
    await assistant_account(db)
    shy = await make_person("shy")
    async with db.session(write=True) as session:
        await session.execute(update(Account).where(Account.id == shy.id).values(no_bot=True))
        await session.commit()
    asked = await post_status(client, shy, "@assistant are you there?")
    assert await prepare(db, {"post_id": int(asked["id"])}) == prepare_skipped()
    await run_jobs()
    async with db.session() as session:
        assert await session.get(AssistantReply, int(asked["id"])) is None
        replies = await session.scalars(
            select(Post.id).where(Post.in_reply_to_id == int(asked["id"]))
        )
        assert list(replies) == []


def prepare_skipped() -> Any:
    from agora.ai.mentions import Answer

    return Answer("skipped")


# --- the profile page's robots signal, from a real server -----------------------------------


class Peer:
    """A loopback HTTP server with fixed documents, counting requests per path."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.hits: dict[str, int] = {}
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.hits[self.path] = peer.hits.get(self.path, 0) + 1
                body, headers = peer.docs.get(self.path, (b"", {}))
                self.send_response(200 if body else 404)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def actor(self, name: str, **extra: Any) -> str:
        doc = actor_doc(self.base, name, **extra)
        self.docs[f"/users/{name}"] = (
            json.dumps(doc).encode(),
            {"Content-Type": "application/activity+json"},
        )
        return str(doc["id"])

    def page(self, name: str, head: str, headers: dict[str, str] | None = None) -> None:
        html = f"<html><head>{head}</head><body>{'x' * 200_000}</body></html>"
        self.docs[f"/@{name}"] = (html.encode(), {"Content-Type": "text/html", **(headers or {})})


@pytest.fixture
def peer(monkeypatch) -> Iterator[Peer]:
    monkeypatch.setenv("AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true")
    get_settings.cache_clear()
    running = Peer()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_profile_page_robots_signal_is_read_when_the_actor_publishes_none(db, peer) -> None:
    meta = peer.actor("meta")
    peer.page("meta", '<meta name="robots" content="noindex, noai">')
    header = peer.actor("header")
    peer.page("header", "", {"X-Robots-Tag": "noimageai"})
    agora_like = peer.actor("agoran", dataReuse={})
    peer.page("agoran", '<meta name="robots" content="noai">')
    silent = peer.actor("silent")
    peer.page("silent", '<meta name="robots" content="noindex">')

    by_meta = await fetch_actor(db, meta)
    assert {c: v["source"] for c, v in by_meta.data_reuse.items()} == {
        "syntheticContentGeneration": "robots",
        "syntheticImageGeneration": "robots",
        "bulkDataset": "robots",
    }
    assert consent.allows(by_meta, Category.ASSISTANT)  # robots noai speaks of training
    by_header = await fetch_actor(db, header)
    assert set(by_header.data_reuse) == {"syntheticImageGeneration"}
    assert (await fetch_actor(db, silent)).data_reuse == {}
    # an actor that publishes its own intents: its page is not even requested
    assert (await fetch_actor(db, agora_like)).data_reuse == {}
    assert peer.hits.get("/@agoran") is None and peer.hits["/@meta"] == 1


async def test_signals_pass_on_a_remote_no_but_never_a_remote_yes(client, db, make_person) -> None:
    viewer = await make_person("viewer")
    base = "https://h.example"
    yes = actor_doc(base, "yes", dataReuse={"syntheticContentGeneration": {"allow": True}})
    no = actor_doc(base, "no", summary="#noai")
    ids = {}
    async with db.session(write=True) as session:
        for name, doc in (("yes", yes), ("no", no)):
            author = await store_actor(session, parse_actor(doc, doc["id"]))
            note = {
                "id": f"{doc['id']}/statuses/1",
                "type": "Note",
                "attributedTo": doc["id"],
                "content": f"<p>by {name}</p>",
                "to": [PUBLIC],
            }
            post = await store_remote_post(session, author, note)
            assert post is not None
            ids[name] = post.id
        await session.commit()
    said_yes = await client.get(f"/api/v1/statuses/{ids['yes']}", headers=viewer.headers)
    assert said_yes.status_code == 200
    assert "content-usage" not in said_yes.headers  # their yes is not this server's to give
    assert said_yes.headers["x-robots-tag"] == "noai, noimageai"
    said_no = await client.get(f"/api/v1/statuses/{ids['no']}", headers=viewer.headers)
    assert said_no.headers["content-usage"] == "train-ai=n"
    assert said_no.headers["tdm-reservation"] == "1"


async def test_a_stale_actor_is_fetched_again_so_a_changed_mind_travels(client, db, peer) -> None:
    """A day after its last fetch, the next signed delivery from an actor fetches it again:
    the #noai added to her profile meanwhile is honoured from then on."""
    from datetime import timedelta

    from agora.db.models import utcnow
    from agora.federation.signatures import sign_cavage

    keys = generate_key_pair()
    uri = f"{peer.base}/users/ivy"
    key = {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": keys.public_pem}
    peer.actor("ivy", publicKey=key, dataReuse={})
    ivy = await fetch_actor(db, uri)
    assert consent.allows(ivy, Category.ASSISTANT)

    async def deliver(n: int) -> int:
        body = json.dumps(
            {
                "id": f"{uri}/statuses/{n}/activity",
                "type": "Create",
                "actor": uri,
                "object": {
                    "id": f"{uri}/statuses/{n}",
                    "type": "Note",
                    "attributedTo": uri,
                    "content": f"<p>note {n}</p>",
                    "to": [PUBLIC],
                },
            }
        ).encode()
        inbox = f"{get_settings().base_url}/inbox"
        signed = sign_cavage("POST", inbox, body, key_id=key["id"], private_pem=keys.private_pem)
        headers = {"Content-Type": "application/activity+json", **signed}
        return (await client.post("/inbox", content=body, headers=headers)).status_code

    peer.actor("ivy", publicKey=key, dataReuse={}, summary="#noai from now on")
    assert await deliver(1) == 202
    async with db.session() as session:
        fresh = await session.get(Account, ivy.id)
        assert consent.allows(fresh, Category.ASSISTANT)  # fetched minutes ago: not again
    assert peer.hits["/users/ivy"] == 1
    async with db.session(write=True) as session:
        await session.execute(
            update(Account)
            .where(Account.id == ivy.id)
            .values(fetched_at=utcnow() - timedelta(days=2))
        )
        await session.commit()
    assert await deliver(2) == 202
    assert peer.hits["/users/ivy"] == 2
    async with db.session() as session:
        refreshed = await session.get(Account, ivy.id)
        assert not consent.allows(refreshed, Category.ASSISTANT)
        assert refreshed.data_reuse["assistantContext"]["source"] == "#noai"
    # stale again, and her server no longer answers: the stored actor (and key) still serve
    async with db.session(write=True) as session:
        await session.execute(
            update(Account)
            .where(Account.id == ivy.id)
            .values(fetched_at=utcnow() - timedelta(days=2))
        )
        await session.commit()
    del peer.docs["/users/ivy"]
    assert await deliver(3) == 202
    assert peer.hits["/users/ivy"] == 3
