"""Consent: the Python rule and its SQL twin, the API, the consent log, per-post overrides."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, update

from agora.data import consent
from agora.data.consent import Category
from agora.db.models import Account, Post

URL = "/api/v1/agora/data_reuse"


async def test_defaults_training_off_assistant_on(client, make_person):
    alice = await make_person("alice")
    body = (await client.get(URL, headers=alice.headers)).json()
    assert body["intents"] == {}
    assert body["effective"]["syntheticContentGeneration"] is False
    assert body["effective"]["bulkDataset"] is False
    assert body["effective"]["assistantContext"] is True
    account = (await client.get(f"/api/v1/accounts/{alice.id}")).json()
    assert account["agora"] == {"data_reuse": {}}


async def test_patch_choices_log_and_account_block(client, make_person):
    alice = await make_person("alice")
    change = {"syntheticContentGeneration": True, "assistantContext": {"allow": False}}
    r = await client.patch(URL, json=change, headers=alice.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intents"]["syntheticContentGeneration"]["allow"] is True
    assert body["intents"]["syntheticContentGeneration"]["updatedAt"].endswith("Z")
    assert body["effective"]["assistantContext"] is False
    public = (await client.get(f"/api/v1/accounts/{alice.id}")).json()["agora"]["data_reuse"]
    assert public == body["intents"]
    # back to unset through a form body; a repeated value adds no log entry
    r = await client.patch(
        URL,
        data={"syntheticContentGeneration": "unset", "assistantContext": "false"},
        headers=alice.headers,
    )
    assert r.json()["intents"] == {"assistantContext": body["intents"]["assistantContext"]}
    log = (await client.get(f"{URL}/log", headers=alice.headers)).json()
    assert [(e["category"], e["allow"]) for e in log] == [
        ("syntheticContentGeneration", True),
        ("assistantContext", False),
        ("syntheticContentGeneration", None),
    ]


async def test_bad_choices_change_nothing(client, make_person):
    alice = await make_person("alice")
    for bad in ({"trainEverything": True}, {"bulkDataset": "maybe"}, {"bulkDataset": [1]}):
        r = await client.patch(URL, json=bad, headers=alice.headers)
        assert r.status_code == 422 and isinstance(r.json()["error"], str), (bad, r.text)
    assert (await client.get(f"{URL}/log", headers=alice.headers)).json() == []
    assert (await client.patch(URL, json={"bulkDataset": True})).status_code == 401
    reader = await make_person("reader", scopes="read")
    assert (
        await client.patch(URL, json={"bulkDataset": True}, headers=reader.headers)
    ).status_code == 403


async def test_post_override_on_create_and_edit(client, make_person):
    alice = await make_person("alice")
    r = await client.post(
        "/api/v1/statuses", json={"status": "mine only", "no_ai_reuse": True}, headers=alice.headers
    )
    status = r.json()
    assert status["agora"] == {"no_ai_reuse": True, "ai_generated": False}
    sid = status["id"]
    edited = await client.put(
        f"/api/v1/statuses/{sid}",
        json={"status": "edited", "no_ai_reuse": False},
        headers=alice.headers,
    )
    assert edited.json()["agora"]["no_ai_reuse"] is False
    # an edit that does not mention the flag keeps it
    again = await client.put(
        f"/api/v1/statuses/{sid}", json={"status": "again"}, headers=alice.headers
    )
    assert again.json()["agora"]["no_ai_reuse"] is False
    log = (await client.get(f"{URL}/log", headers=alice.headers)).json()
    assert [(e["category"], e["post_id"], e["allow"]) for e in log] == [
        ("noAiReuse", sid, False),
        ("noAiReuse", sid, None),
    ]


@pytest.mark.parametrize("domain", [None, "remote.example"])
async def test_python_rule_and_sql_twin_agree(db, make_person, domain):
    """Every intent (allow / deny / unset) x override x category, for a local and a remote
    author: may_use == allowed_sql. A remote author's content is never usable but for the
    assistant."""
    person = await make_person("twin")
    if domain is not None:
        async with db.session(write=True) as session:
            await session.execute(
                update(Account).where(Account.id == person.id).values(domain=domain)
            )
            await session.commit()
    cases = list(itertools.product([True, False, None], [True, False], list(Category)))
    async with db.session(write=True) as session:
        account = await session.get(Account, person.id)
        posts = {}
        for override in (True, False):
            post = Post(account_id=account.id, text="x", content_html="x", no_ai_reuse=override)
            post.created_at = account.created_at
            session.add(post)
            posts[override] = post
        await session.commit()
        for choice, override, category in cases:
            await consent.set_intents(session, account, {category: choice})
            post = posts[override]
            expected = consent.may_use(account, post, category)
            found = await session.scalar(
                select(Post.id)
                .join(Account, Account.id == Post.account_id)
                .where(Post.id == post.id, consent.allowed_sql(category))
            )
            assert (found is not None) == expected, (choice, override, category)
            if choice is None:
                assert expected is (category is Category.ASSISTANT and not override)
            if domain is not None and category is not Category.ASSISTANT:
                assert expected is False


async def test_replay_matches_current_state(db, make_person):
    person = await make_person("replay")
    async with db.session(write=True) as session:
        account = await session.get(Account, person.id)
        await consent.set_intents(session, account, {Category.GENAI_TEXT: True})
        middle = await consent.log_position(session)
        await consent.set_intents(session, account, {Category.GENAI_TEXT: False})
        events = await consent.account_log(session, account.id)
    then = consent.replay(events, middle)
    now = consent.replay(events, events[-1].id)
    assert then.may_use(person.id, 1, Category.GENAI_TEXT) is True
    assert now.may_use(person.id, 1, Category.GENAI_TEXT) is False
    assert now.may_use(person.id, 1, Category.ASSISTANT) is True


async def test_assistant_reads_only_what_authors_allow(client, db, make_person):
    """A post whose author turned the assistant off, or that opts out of AI reuse, never
    reaches the assistant's context; everything else does by default."""
    ids = {}
    for name, choice, override in [
        ("open", None, False),
        ("closed", False, False),
        ("optout", None, True),
        ("explicit", True, False),
    ]:
        person = await make_person(name)
        if choice is not None:
            await client.patch(URL, json={"assistantContext": choice}, headers=person.headers)
        r = await client.post(
            "/api/v1/statuses",
            json={"status": f"{name} says hi", "no_ai_reuse": override},
            headers=person.headers,
        )
        ids[name] = int(r.json()["id"])
    async with db.session() as session:
        usable = await consent.usable_post_ids(session, Category.ASSISTANT, ids.values())
        assert await consent.usable_post_ids(session, Category.ASSISTANT, []) == set()
    assert usable == {ids["open"], ids["explicit"]}
