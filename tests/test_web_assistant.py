"""The assistant in the web app, with the real local model (SmolLM2 through llama-cpp-python):
Explain / Summarise / Translate on a post, the composer's helpers and the streamed chat with
its sources. Assertions are on structure (labels, links, who may see what), not wording."""

from __future__ import annotations

import re

import orjson
import pytest
from sqlalchemy import func, select

import assistant_support
from agora.config import get_settings
from agora.db.models import AiUsage, AssistantConversation
from helpers import post_status, web_sign_in

pytest.importorskip("llama_cpp")
HX = {"HX-Request": "true"}
STREAM = {"Accept": "text/event-stream", "HX-Request": "true"}
LINK = re.compile(r'href="/@(\w+)/(\d+)"')


assistant = assistant_support.local_assistant  # the shared fixture


async def _calls(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(AiUsage))


async def _conversations(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(AssistantConversation))


def _events(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], orjson.loads(lines["data"])))
    return found


async def test_post_buttons_answer_labelled_fragments(client, db, make_person, assistant):
    alice, _ = await make_person("alice"), await make_person("bob")
    post = await post_status(client, alice, "The ferry to the island leaves every hour.")
    csrf = await web_sign_in(client, "bob")
    page = await client.get(f"/@alice/{post['id']}")
    assert 'value="explain"' in page.text and 'value="translate"' in page.text
    url = f"/web/statuses/{post['id']}/assistant"
    for ask, title in (("explain", "Explanation"), ("translate", "Translation")):
        answer = await client.post(url, data={"csrf": csrf, "ask": ask}, headers=HX)
        assert answer.status_code == 200, answer.text
        assert title in answer.text and 'class="label ai">AI-generated' in answer.text
        assert "<html" not in answer.text
    summary = await client.post(url, data={"csrf": csrf, "ask": "summarise"})
    assert summary.status_code == 200 and "<html" in summary.text  # without HTMX: a page
    assert ("alice", post["id"]) in LINK.findall(summary.text)  # the posts it read
    assert await _calls(db) == 3


async def test_post_buttons_refuse_what_the_viewer_may_not_see(client, db, make_person, assistant):
    alice, _ = await make_person("alice"), await make_person("bob")
    secret = await post_status(client, alice, "Followers only", visibility="private")
    public = await post_status(client, alice, "Public")
    csrf = await web_sign_in(client, "bob")
    hidden = await client.post(
        f"/web/statuses/{secret['id']}/assistant", data={"csrf": csrf, "ask": "explain"}
    )
    assert hidden.status_code == 404 and "<html" in hidden.text
    unknown = await client.post(
        f"/web/statuses/{public['id']}/assistant", data={"csrf": csrf, "ask": "rm -rf"}
    )
    assert unknown.status_code == 404
    forged = await client.post(f"/web/statuses/{public['id']}/assistant", data={"ask": "explain"})
    assert forged.status_code == 403
    assert await _calls(db) == 0


async def test_composer_helpers_suggest_and_check_input(client, db, make_person, assistant):
    await make_person("bob")
    csrf = await web_sign_in(client, "bob")
    home = await client.get("/home")
    assert 'value="fix_spelling"' in home.text and 'hx-post="/web/assistant/draft"' in home.text
    draft = {"csrf": csrf, "status": "i realy like the new libary", "assist": "fix_spelling"}
    answer = await client.post("/web/assistant/draft", data=draft, headers=HX)
    assert answer.status_code == 200
    assert "data-use-suggestion" in answer.text and "AI-generated" in answer.text
    for bad in ({**draft, "assist": "launch"}, {**draft, "status": "  "}):
        refused = await client.post("/web/assistant/draft", data=bad, headers=HX)
        assert refused.status_code == 422 and "Validation failed" in refused.text
    assert await _calls(db) == 1


async def test_chat_streams_and_cites_only_visible_posts(client, db, make_person, assistant):
    alice, _ = await make_person("alice"), await make_person("bob")
    shown = await post_status(client, alice, "The transit strike ends on Friday, the union said.")
    await post_status(client, alice, "Transit strike: my private view", visibility="private")
    csrf = await web_sign_in(client, "bob")
    assert (await client.get("/assistant")).status_code == 200
    question = {"csrf": csrf, "content": "What is said about the transit strike?"}
    answer = await client.post("/web/assistant/ask", data=question, headers=STREAM)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = _events(answer.text)
    assert {name for name, _ in events[:-1]} == {"token"} and events[-1][0] == "done"
    done = events[-1][1]
    assert LINK.findall(done["html"]) == [("alice", shown["id"])]
    assert 'class="label ai">AI-generated' in done["html"]
    conversation = await client.get(done["url"])
    assert conversation.status_code == 200
    assert LINK.findall(conversation.text).count(("alice", shown["id"])) == 1
    # a plain form (no JavaScript) waits for the answer and goes to the conversation
    follow_up = {**question, "conversation_id": done["conversation_id"], "content": "And then?"}
    plain = await client.post("/web/assistant/ask", data=follow_up)
    assert plain.status_code == 303 and plain.headers["location"].startswith(done["url"])
    assert (await client.get(done["url"])).text.count('class="msg user"') == 2


async def test_chat_belongs_to_its_asker_and_can_be_deleted(client, db, make_person, assistant):
    await make_person("alice"), await make_person("bob")
    csrf = await web_sign_in(client, "bob")
    question = {"csrf": csrf, "content": "Hello?"}
    made = await client.post("/web/assistant/ask", data=question)
    url = made.headers["location"].split("#")[0]
    empty = await client.post("/web/assistant/ask", data={**question, "content": " "}, headers=HX)
    assert empty.status_code == 422  # and it leaves no empty conversation behind
    assert await _conversations(db) == 1
    client.cookies.clear()
    alice_csrf = await web_sign_in(client, "alice")
    assert (await client.get(url)).status_code == 404
    conversation_id = url.rsplit("/", 1)[1]
    stolen = await client.post(
        "/web/assistant/ask",
        data={"csrf": alice_csrf, "content": "Hi", "conversation_id": conversation_id},
    )
    assert stolen.status_code == 404
    client.cookies.clear()
    csrf = await web_sign_in(client, "bob")
    gone = await client.post(f"/web/assistant/{conversation_id}/delete", data={"csrf": csrf})
    assert gone.status_code == 303 and (await client.get(url)).status_code == 404
    assert await _conversations(db) == 0


async def test_quota_is_a_clear_429(client, make_person, assistant, monkeypatch):
    alice, _ = await make_person("alice"), await make_person("bob")
    post = await post_status(client, alice, "Quota test")
    monkeypatch.setenv("AGORA_AI_DAILY_QUOTA", '{"explain": 0}')
    get_settings.cache_clear()
    csrf = await web_sign_in(client, "bob")
    refused = await client.post(
        f"/web/statuses/{post['id']}/assistant", data={"csrf": csrf, "ask": "explain"}, headers=HX
    )
    assert refused.status_code == 429 and "explain" in refused.text.lower()
