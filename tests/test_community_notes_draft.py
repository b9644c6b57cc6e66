"""The assistant drafts a Community Note (the local model, as the other assistant model tests
use it): the draft cites only posts the asker may read, is labelled, is never saved, and a
person submits it; the assistant itself never rates. Model tests run in the SQLite pass."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import assistant_support
from agora.db.models import Account, CommunityNote, utcnow
from agora.social.community_notes.note_writing import rate_note
from helpers import ON_POSTGRES, follow, post_status

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="model tests run in the SQLite pass")
assistant = assistant_support.local_assistant  # the shared fixture


async def test_the_draft_cites_only_posts_the_asker_may_read(client, db, make_person, assistant):
    poster, asker, friend, stranger = (
        await make_person("poster"),
        await make_person("asker"),
        await make_person("friend"),
        await make_person("stranger"),
    )
    async with db.session(write=True) as session:
        await session.execute(
            update(Account)
            .where(Account.id == asker.id)
            .values(created_at=utcnow() - timedelta(days=30))
        )
        await session.commit()
    await follow(client, asker, friend)
    post = await post_status(client, poster, "The harbour museum closes on Mondays.")
    reply = await post_status(
        client, friend, "Museum hours: https://example.org/hours", in_reply_to_id=post["id"]
    )
    visible = await post_status(
        client, friend, "The harbour museum opened on a Monday once", visibility="private"
    )
    hidden = await post_status(
        client, stranger, "The harbour museum secret: closes Mondays", visibility="private"
    )
    r = await client.post(
        "/api/v1/agora/notes/draft", headers=asker.headers, data={"status_id": post["id"]}
    )
    assert r.status_code == 200, r.text
    drafted = r.json()
    used = set(drafted["used_status_ids"])
    assert post["id"] in used and reply["id"] in used
    assert hidden["id"] not in used and hidden["id"] not in drafted["text"]
    assert used <= {post["id"], reply["id"], visible["id"]}
    assert drafted["label"] == "drafted with the assistant" and drafted["ai_generated"] is True
    # sources come from public posts only: the reply's link, not the private post's address
    assert "https://example.org/hours" in drafted["text"]
    assert f"/{visible['id']}" not in drafted["text"]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CommunityNote)) == 0
    # a person submits it as their own note, marked as drafted with the assistant
    note = await client.post(
        "/api/v1/agora/notes",
        headers=asker.headers,
        data={
            "status_id": post["id"],
            "text": drafted["text"],
            "classification": drafted["classification"],
            "drafted_with_assistant": "true",
        },
    )
    assert note.status_code == 200, note.text
    assert note.json()["drafted_with_assistant"] is True
    # the assistant never rates, whatever its age
    async with db.session(write=True) as session:
        bot = await session.get(Account, assistant.id)
        bot.created_at = utcnow() - timedelta(days=400)
        await session.commit()
        with pytest.raises(Exception, match="Bots do not"):
            await rate_note(session, bot, int(note.json()["id"]), "helpful")


async def test_a_new_account_may_not_ask_for_a_draft(client, make_person, assistant):
    poster, asker = await make_person("poster"), await make_person("asker")
    post = await post_status(client, poster, "A claim to check.")
    r = await client.post(
        "/api/v1/agora/notes/draft", headers=asker.headers, data={"status_id": post["id"]}
    )
    assert r.status_code == 403
