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
from agora.data.export import export_dataset
from agora.db.models import Account, ConsentEvent, Post, User, utcnow
from agora.social.accounts import create_account
from agora.social.bootstrap import ensure_assistant
from agora.social.errors import Invalid
from agora.social.posts import Draft, create_post, delete_post

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
                post = await create_post(session, author, draft)
                if rng.random() < 0.1:
                    await delete_post(session, author, post.id)
        ai = await create_post(session, people[0], Draft("marked as machine written"))
        ai.ai_generated = True
        await create_post(session, assistant, Draft("the assistant speaking"))
        await session.commit()
        for author in people[:2]:
            await consent.set_intents(session, author, {Category.GENAI_TEXT: True})
        await session.execute(
            update(Account).where(Account.id == people[2].id).values(suspended_at=utcnow())
        )
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


async def test_audit_withdrawal_and_files(db, tmp_path):
    await _population(db)
    first = await export_dataset(db, "genai-text", tmp_path / "one", shard_rows=7)
    rows = _exported(tmp_path / "one")
    ids = {int(r["id"]) for r in rows}
    assert ids == await _expected(db, int(first["consent_log_position"]))
    assert first["counts"]["posts"] == len(rows) > 0
    assert len(first["shards"]) == -(-len(rows) // 7)
    for shard in first["shards"]:
        data = (tmp_path / "one" / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]

    # people change their minds, a post is deleted; the next export and its withdrawal list follow
    async with db.session(write=True) as session:
        first_post = await session.get(Post, int(rows[0]["id"]))
        leaving = await session.get(Account, first_post.account_id)
        await consent.set_intents(session, leaving, {Category.GENAI_TEXT: False})
        gone = await session.get(Post, int(rows[-1]["id"]))
        gone_author = await session.get(Account, gone.account_id)
        await delete_post(session, gone_author, gone.id)
    second = await export_dataset(db, "genai-text", tmp_path / "two")
    ids2 = {int(r["id"]) for r in _exported(tmp_path / "two")}
    assert ids2 == await _expected(db, int(second["consent_log_position"]))
    withdrawn = json.loads((tmp_path / "two" / "withdrawals.json").read_text())
    assert {int(i) for i in withdrawn["ids"]} == ids - ids2
    assert gone.id in ids - ids2 and second["counts"]["withdrawn"] == len(ids - ids2)
    assert second["withdrawals"]["previous_export_id"] == first["export_id"]


async def test_records_are_scrubbed_and_pseudonymous(db, tmp_path):
    async with db.session(write=True) as session:
        yes = await create_account(session, username="yes")
        no = await create_account(session, username="no")
        await session.commit()
        await consent.set_intents(session, yes, {Category.GENAI_TEXT: True})
        parent = await create_post(session, yes, Draft("hello @no and @yes, mail yes@example.org"))
        await create_post(
            session, yes, Draft("call +1 (415) 555-0100 #Phones", in_reply_to_id=parent.id)
        )
        await create_post(session, no, Draft("not mine to give", in_reply_to_id=parent.id))
        await create_post(
            session, yes, Draft("hello @no and @yes, mail yes@example.org")
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
            await create_post(session, yes, Draft(f"consented post {n}"))
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
    assert (await client.get("/api/v1/timelines/home", headers=lab_headers)).status_code in (
        401,
        403,
        422,
    )
