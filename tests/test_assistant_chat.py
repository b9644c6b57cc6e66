"""Private chats with the assistant, streamed over SSE from a real OpenAI-compatible server
(llama_cpp.server on the default GGUF): sources are found by the search module among posts
the asker may see and whose authors allow the assistant; every cited post is visible."""

from __future__ import annotations

import json

import assistant_support
from agora.social.people.assistant_account import ensure_assistant
from assistant_support import _use
from helpers import post_status

openai_server = assistant_support.openai_server  # the shared fixture
TOKENS = "24"


async def test_chat_streams_and_cites_only_visible_posts(
    client,
    db,
    make_person,
    openai_server,
    monkeypatch,
):
    _use(
        monkeypatch,
        ai_provider="openai",
        openai_base_url=openai_server,
        openai_model="smollm2",
        ai_max_new_tokens=TOKENS,
        ai_timeout_seconds="120",
    )
    async with db.session(write=True) as session:
        await ensure_assistant(session)
        await session.commit()
    alice, bob = await make_person("alice"), await make_person("bob")
    await post_status(client, alice, "The transit strike ends on Friday, says the union.")
    await post_status(client, alice, "Secret transit strike note", visibility="private")

    conversation = (
        await client.post("/api/v1/agora/assistant/conversations", json={}, headers=bob.headers)
    ).json()
    url = f"/api/v1/agora/assistant/conversations/{conversation['id']}/messages"
    events = []
    async with client.stream(
        "POST", url, json={"content": "What about the transit strike?"}, headers=bob.headers
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: ") and events[-1] == "message":
                final = json.loads(line[6:])
    assert events[0] == "token" and events[-1] == "message"
    cited = final["cited_statuses"]
    assert cited and all("Secret" not in s["content"] for s in cited)
    assert all(s["visibility"] == "public" for s in cited)
    shown = await client.get(
        f"/api/v1/agora/assistant/conversations/{conversation['id']}", headers=bob.headers
    )
    assert [m["role"] for m in shown.json()["messages"]] == ["user", "assistant"]
    assert (
        await client.get(
            f"/api/v1/agora/assistant/conversations/{conversation['id']}", headers=alice.headers
        )
    ).status_code == 404
    gone = await client.delete(
        f"/api/v1/agora/assistant/conversations/{conversation['id']}", headers=bob.headers
    )
    assert gone.status_code == 200
