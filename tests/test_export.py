"""The consented dataset export: an audit against the consent log, withdrawals, file formats
(pyarrow and Hugging Face `datasets`), the transparency page and the lab endpoints."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from agora.auth import oauth
from agora.data import consent
from agora.data.consent import Category
from agora.data.export import export_dataset, read_salt, record_id
from agora.db.models import Account, ConsentEvent, Post, User, utcnow
from agora.social.people.accounts import create_account
from agora.social.people.assistant_account import ensure_assistant
from agora.social.posts.writing import Draft, create_post, delete_post
from agora.social.rules.errors import Invalid
from helpers import post_status_id

VISIBILITIES = ["public", "public", "public", "unlisted", "private", "direct"]


async def _population(db, seed: int = 7) -> dict[str, int]:
    """People with random text-training intents, some suspended; posts of every kind."""
    rng = random.Random(seed)
    ids: dict[str, int] = {}
    async with db.session(write=True) as session:
        assistant = await ensure_assistant(session)
        await session.commit()
        people = []
        for n in range(12):
            account = await create_account(session, username=f"p{n}")
            await session.commit()
            choice = rng.choice([True, False, None])
            await consent.set_intents(session, account, {Category.GENAI_TEXT: choice})
            people.append(account)
            ids[account.username] = account.id
        serial = 0
        for author in people:
            for _ in range(6):
                serial += 1
                other = rng.choice(people).username
                text = f"post {serial} by {author.username} hi @{other} #topic{serial % 3}"
                draft = Draft(text, visibility=rng.choice(VISIBILITIES))
                draft.no_ai_reuse = rng.random() < 0.15
                post = await create_post(session, author.id, draft)
                if rng.random() < 0.1:
                    await delete_post(session, author, post.id)
        ai = await create_post(session, people[0].id, Draft("marked as machine written"))
        ai.ai_generated = True
        await create_post(session, assistant.id, Draft("the assistant speaking"))
        await session.commit()
        for author in people[:2]:
            await consent.set_intents(session, author, {Category.GENAI_TEXT: True})
        await session.execute(
            update(Account).where(Account.id == people[2].id).values(suspended_at=utcnow())
        )
        await session.commit()
    ids |= await _remote_authors(db)
    return ids


async def _remote_authors(db) -> dict[str, int]:
    """Two people of another server (federation), with public posts stored here: one whose
    server says they allow every kind of reuse, one who said nothing. Neither is exported:
    remote content never is, whatever its author allows."""
    from agora.federation.actors import parse_actor, store_actor
    from agora.federation.inbound_posts import store_remote_post
    from agora.federation.keys import generate_key_pair

    ids = {}
    pem = generate_key_pair().public_pem
    async with db.session(write=True) as session:
        for name, intents in (
            ("willing", {c.value: {"allow": True} for c in Category}),
            ("silent", None),
        ):
            uri = f"https://remote.example/users/{name}"
            doc = {
                "id": uri,
                "type": "Person",
                "preferredUsername": name,
                "inbox": f"{uri}/inbox",
                "followers": f"{uri}/followers",
                "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": pem},
                **({"dataReuse": intents} if intents else {}),
            }
            author = await store_actor(session, parse_actor(doc, uri))
            ids[f"{name}@remote.example"] = author.id
            for n in range(3):
                note = {
                    "id": f"{uri}/statuses/{n}",
                    "type": "Note",
                    "attributedTo": uri,
                    "content": f"<p>remote post {n} by {name}</p>",
                    "to": ["https://www.w3.org/ns/activitystreams#Public"],
                }
                await store_remote_post(session, author, note)
        await session.commit()
    return ids


async def _expected(db, position: int) -> set[int]:
    """Replay the consent log to `position` and apply the non-consent rules to the rows."""
    async with db.session() as session:
        events = (await session.scalars(select(ConsentEvent))).all()
        rows = (
            await session.execute(
                select(Post, Account).join(Account, Account.id == Post.account_id)
            )
        ).all()
    state = consent.replay(events, position)
    return {
        post.id
        for post, author in rows
        if post.visibility == 0
        and post.deleted_at is None
        and post.reblog_of_id is None
        and not post.ai_generated
        and author.suspended_at is None
        and author.username != "assistant"
        and state.may_use(author.id, post.id, Category.GENAI_TEXT)
    }


def _exported(out: Path) -> list[dict]:
    return [
        row
        for f in sorted((out / "data").glob("*.parquet"))
        for row in pq.read_table(f).to_pylist()
    ]


async def _posts_by_record(db, post_ids: set[int]) -> dict[str, int]:
    """The genai-text record id of each post (the instance's own mapping)."""
    async with db.session() as session:
        salt = await read_salt(session)
    return {record_id(salt, Category.GENAI_TEXT, p): p for p in post_ids}


async def test_audit_withdrawal_and_files(db, tmp_path):
    people = await _population(db)
    first = await export_dataset(db, "genai-text", tmp_path / "one", shard_rows=7)
    rows = _exported(tmp_path / "one")
    expected = await _posts_by_record(db, await _expected(db, int(first["consent_log_position"])))
    assert {r["id"] for r in rows} == set(expected)
    # remote authors (even one whose server says "allow everything") are never exported
    async with db.session() as session:
        remote = set(
            (
                await session.scalars(
                    select(Post.id).join(Account).where(Account.domain.is_not(None))
                )
            ).all()
        )
        willing = await session.get(Account, people["willing@remote.example"])
    assert len(remote) == 6 and consent.intent(willing, Category.GENAI_TEXT) is True
    assert not remote & set(expected.values())
    assert not set(await _posts_by_record(db, remote)) & {r["id"] for r in rows}
    for purpose in ("research", "archive"):
        other = await export_dataset(db, purpose, tmp_path / purpose)
        assert other["counts"]["posts"] == len(_exported(tmp_path / purpose))
        async with db.session() as session:
            salt = await read_salt(session)
        category = Category.BULK_DATASET if purpose == "research" else Category.ARCHIVE
        remote_records = {record_id(salt, category, p) for p in remote}
        assert not remote_records & {r["id"] for r in _exported(tmp_path / purpose)}
    ids = {expected[r["id"]] for r in rows}
    assert first["counts"]["posts"] == len(rows) > 0
    assert len(first["shards"]) == -(-len(rows) // 7)
    for shard in first["shards"]:
        data = (tmp_path / "one" / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]

    # people change their minds, a post is deleted; the next export and its withdrawal list follow
    async with db.session(write=True) as session:
        first_post = await session.get(Post, expected[rows[0]["id"]])
        leaving = await session.get(Account, first_post.account_id)
        await consent.set_intents(session, leaving, {Category.GENAI_TEXT: False})
        gone = await session.get(Post, expected[rows[-1]["id"]])
        gone_author = await session.get(Account, gone.account_id)
        await delete_post(session, gone_author, gone.id)
        await session.commit()
    second = await export_dataset(db, "genai-text", tmp_path / "two")
    expected2 = await _posts_by_record(db, await _expected(db, int(second["consent_log_position"])))
    assert {r["id"] for r in _exported(tmp_path / "two")} == set(expected2)
    ids2 = set(expected2.values())
    withdrawn = json.loads((tmp_path / "two" / "withdrawals.json").read_text())
    records = {p: r for r, p in (await _posts_by_record(db, ids)).items()}
    assert set(withdrawn["ids"]) == {records[p] for p in ids - ids2}
    assert gone.id in ids - ids2 and second["counts"]["withdrawn"] == len(ids - ids2)
    assert second["withdrawals"]["previous_export_id"] == first["export_id"]


async def test_records_are_scrubbed_and_pseudonymous(db, tmp_path):
    async with db.session(write=True) as session:
        yes = await create_account(session, username="yes")
        no = await create_account(session, username="no")
        await session.commit()
        await consent.set_intents(session, yes, {Category.GENAI_TEXT: True})
        parent = await create_post(
            session, yes.id, Draft("hello @no and @yes, mail yes@example.org")
        )
        await create_post(
            session, yes.id, Draft("call +1 (415) 555-0100 #Phones", in_reply_to_id=parent.id)
        )
        await create_post(session, no.id, Draft("not mine to give", in_reply_to_id=parent.id))
        await create_post(
            session, yes.id, Draft("hello @no and @yes, mail yes@example.org")
        )  # duplicate
    manifest = await export_dataset(db, "genai-text", tmp_path)
    rows = _exported(tmp_path)
    assert [r["text"] for r in rows] == [
        "hello @[user] and @yes, mail [email]",
        "call [phone] #Phones",
    ]
    assert rows[1]["in_reply_to_id"] == rows[0]["id"] and rows[1]["hashtags"] == ["phones"]
    assert rows[0]["author"] == rows[1]["author"] and str(yes.id) not in rows[0]["author"]
    assert rows[0]["consent_category"] == "syntheticContentGeneration"
    assert manifest["counts"]["skipped_duplicates"] == 1
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\nlicense: other\n") and "n<1K" in card


async def test_loads_with_hugging_face_datasets_and_jsonl(db, tmp_path):
    async with db.session(write=True) as session:
        yes = await create_account(session, username="yes")
        await session.commit()
        await consent.set_intents(session, yes, {Category.GENAI_TEXT: True})
        for n in range(5):
            await create_post(session, yes.id, Draft(f"consented post {n}"))
    await export_dataset(db, "genai-text", tmp_path / "pq")
    script = (
        "import sys; from datasets import load_dataset;"
        "d = load_dataset('parquet', data_files=sys.argv[1], split='train');"
        "print(len(d), sorted(d['text'])[0])"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pq" / "data" / "*.parquet")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["5", "consented"]
    manifest = await export_dataset(db, "genai-text", tmp_path / "jl", fmt="jsonl")
    lines = (tmp_path / "jl" / manifest["shards"][0]["file"]).read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["text"].startswith("consented post")


async def test_refuses_bad_purpose_and_used_directory(db, tmp_path):
    with pytest.raises(Invalid):
        await export_dataset(db, "everything", tmp_path / "a")
    with pytest.raises(Invalid):
        await export_dataset(db, "genai-images", tmp_path / "b")
    await export_dataset(db, "research", tmp_path / "c")
    with pytest.raises(Invalid):
        await export_dataset(db, "research", tmp_path / "c")


async def test_where_my_data_went_and_lab_access(db, client, make_person, tmp_path):
    alice = await make_person("alice")
    await client.patch(
        "/api/v1/agora/data_reuse", json={"bulkDataset": True}, headers=alice.headers
    )
    for n in range(3):
        await client.post(
            "/api/v1/statuses", json={"status": f"research me {n}"}, headers=alice.headers
        )
    first = await export_dataset(db, "research", tmp_path / "one")
    await client.patch(
        "/api/v1/agora/data_reuse", json={"bulkDataset": False}, headers=alice.headers
    )
    second = await export_dataset(db, "research", tmp_path / "two")
    mine = (await client.get("/api/v1/agora/data_reuse/exports", headers=alice.headers)).json()
    assert mine == [
        {
            "export_id": first["export_id"],
            "purpose": "research",
            "snapshot_at": first["snapshot_at"],
            "posts": 3,
            "withdrawn_since": 3,
            "author": _exported(tmp_path / "one")[0]["author"],
        }
    ]
    assert second["counts"]["withdrawn"] == 3

    url = "/api/v1/agora/datasets"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=alice.headers)).status_code == 403
    registered = await client.post(
        "/api/v1/apps",
        json={"client_name": "lab", "redirect_uris": oauth.OOB, "scopes": "read:datasets"},
    )
    assert registered.status_code == 422
    async with db.session(write=True) as session:
        lab = await oauth.register_app(
            session,
            name="lab",
            redirect_uris=oauth.OOB,
            scopes="read:datasets",
            website=None,
            trusted=True,
        )
        token = (await oauth.issue_token(session, lab, None, ["read:datasets"])).token
        await session.execute(update(User).where(User.account_id == alice.id).values(is_admin=True))
        await session.commit()
    for headers in ({"Authorization": f"Bearer {token}"}, alice.headers):
        listed = (await client.get(url, headers=headers)).json()
        assert [d["id"] for d in listed] == [second["export_id"], first["export_id"]]
    lab_headers = {"Authorization": f"Bearer {token}"}
    shard = first["shards"][0]["file"]
    got = await client.get(f"{url}/{first['export_id']}/files/{shard}", headers=lab_headers)
    assert (
        got.status_code == 200
        and hashlib.sha256(got.content).hexdigest() == first["shards"][0]["sha256"]
    )
    for bad in ("../../etc/passwd", "data/nothing.parquet"):
        assert (
            await client.get(f"{url}/{first['export_id']}/files/{bad}", headers=lab_headers)
        ).status_code == 404
    assert (await client.get(f"{url}/123", headers=lab_headers)).status_code == 404
    # a lab token is good for datasets only
    home = await client.get("/api/v1/timelines/home", headers=lab_headers)
    assert home.status_code == 403  # Mastodon's answer to a token without the scope
    assert home.json() == {"error": "This action is outside the authorized scopes"}


def _public_text(out: Path) -> str:
    """Everything an export publishes, as text (JSON Lines shards, manifest, card, withdrawals)."""
    files = [out / "manifest.json", out / "README.md", out / "withdrawals.json"]
    files += sorted((out / "data").glob("*"))
    return "\n".join(f.read_text() for f in files)


def _jsonl(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "data").glob("*")) for line in f.open()]


async def test_records_carry_pseudonymous_ids_nothing_to_look_a_post_up(
    db, client, make_person, tmp_path
):
    alice = await make_person("alice")
    await make_person("bob")
    choices = {"syntheticContentGeneration": True, "bulkDataset": True}
    await client.patch("/api/v1/agora/data_reuse", json=choices, headers=alice.headers)

    parent = await post_status_id(client, alice, status="the parent")
    reply = await post_status_id(client, alice, status="a reply", in_reply_to_id=parent)
    quote = await post_status_id(client, alice, status="a quote", quoted_status_id=parent)
    linked = await post_status_id(
        client, alice, status=f"see http://testserver/@bob/{parent} and http://testserver/@bob"
    )
    real = {parent, reply, quote, linked}

    await export_dataset(db, "genai-text", tmp_path / "text", fmt="jsonl")
    await export_dataset(db, "research", tmp_path / "research", fmt="jsonl")
    text_rows = {r["text"]: r for r in _jsonl(tmp_path / "text")}
    research_rows = {r["text"]: r for r in _jsonl(tmp_path / "research")}
    assert len(text_rows) == len(research_rows) == 4

    # no real post id anywhere in what is published, and no record id is a post's address
    for out in ("text", "research"):
        published = _public_text(tmp_path / out)
        assert not [i for i in real if i in published]
        assert "bob" not in published  # a link to a profile or post is not kept
    for row in text_rows.values():
        assert row["id"] not in real
        assert (await client.get(f"/api/v1/statuses/{row['id']}")).status_code == 404
        # times to the day only: no timestamp precise enough to rebuild a post id
        assert set(row) >= {"created_date", "consent_date"} and "created_at" not in row
        assert len(row["created_date"]) == 10 and len(row["consent_date"]) == 10

    # reply and quote links point at the parent's record id
    assert text_rows["a reply"]["in_reply_to_id"] == text_rows["the parent"]["id"]
    assert text_rows["a quote"]["quote_of_id"] == text_rows["the parent"]["id"]
    assert text_rows["see [link] and [link]"]  # the links are gone, the rest of the text stays

    # per purpose: nothing links records (or authors) of one purpose to another
    for text, row in text_rows.items():
        assert row["id"] != research_rows[text]["id"]
        assert row["author"] != research_rows[text]["author"]

    # stable within a purpose: a second export names the same records the same way
    await export_dataset(db, "genai-text", tmp_path / "again", fmt="jsonl")
    again = {r["text"]: r["id"] for r in _jsonl(tmp_path / "again")}
    assert again == {text: row["id"] for text, row in text_rows.items()}


async def test_person_learns_which_posts_an_export_included(db, client, make_person, tmp_path):
    alice = await make_person("alice")
    bob = await make_person("bob")
    for person in (alice, bob):
        await client.patch(
            "/api/v1/agora/data_reuse", json={"bulkDataset": True}, headers=person.headers
        )
    mine = []
    for n in range(3):
        r = await client.post(
            "/api/v1/statuses", json={"status": f"research me {n}"}, headers=alice.headers
        )
        mine.append(r.json()["id"])
    await client.post("/api/v1/statuses", json={"status": "bob's"}, headers=bob.headers)
    first = await export_dataset(db, "research", tmp_path / "one", fmt="jsonl")
    records = {r["text"]: r["id"] for r in _jsonl(tmp_path / "one")}
    # alice withdraws one post by deleting it; the next export's withdrawal list names its record
    await client.delete(f"/api/v1/statuses/{mine[0]}", headers=alice.headers)
    await export_dataset(db, "research", tmp_path / "two", fmt="jsonl")
    withdrawals = json.loads((tmp_path / "two" / "withdrawals.json").read_text())
    assert withdrawals["ids"] == [records["research me 0"]]

    url = f"/api/v1/agora/data_reuse/exports/{first['export_id']}/posts"
    got = await client.get(url, headers=alice.headers)
    assert got.status_code == 200
    assert got.json() == [
        {"id": mine[n], "record_id": records[f"research me {n}"], "withdrawn_since": n == 0}
        for n in (2, 1, 0)
    ]
    page = await client.get(url, params={"limit": 1}, headers=alice.headers)
    assert [p["id"] for p in page.json()] == [mine[2]] and 'rel="next"' in page.headers["link"]
    listed = (await client.get("/api/v1/agora/data_reuse/exports", headers=alice.headers)).json()
    assert listed[-1]["author"] == _jsonl(tmp_path / "one")[0]["author"]
    # nobody else learns alice's records; unknown exports and bad ids are 4xx
    assert (await client.get(url, headers=bob.headers)).json() == [
        {"id": b, "record_id": records["bob's"], "withdrawn_since": False}
        for b in [i for i in (await _ids_of(client, bob))]
    ]
    assert (await client.get(url)).status_code == 401
    missing = "/api/v1/agora/data_reuse/exports/123/posts"
    assert (await client.get(missing, headers=alice.headers)).status_code == 404
    bad = "/api/v1/agora/data_reuse/exports/nope/posts"
    assert (await client.get(bad, headers=alice.headers)).status_code == 404


async def _ids_of(client, person) -> list[str]:
    r = await client.get(f"/api/v1/accounts/{person.id}/statuses")
    return [s["id"] for s in r.json()]
