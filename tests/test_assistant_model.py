"""The assistant with real models: the local SmolLM2 through llama-cpp-python, and the openai
provider against a real OpenAI-compatible server (llama_cpp.server on the same GGUF file).
Assertions are on structure (who replied, where, who may see it, what is cited), not wording."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import assistant_support
from agora.config import get_settings
from agora.db.models import AiUsage
from agora.social.people.assistant_account import ensure_assistant
from assistant_support import _use
from helpers import ON_POSTGRES, post_status

pytest.importorskip("llama_cpp")
# the model answers the same on either database: a model suite runs once, on the SQLite pass
pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="a model suite: once, on the SQLite pass")
openai_server = assistant_support.openai_server  # the shared fixture
TOKENS = "24"


assistant = assistant_support.local_assistant  # the shared fixture


async def _replies(client, person, status_id):
    r = await client.get(f"/api/v1/statuses/{status_id}/context", headers=person.headers)
    return r.json()["descendants"]


async def test_mention_gets_one_labelled_reply(client, db, make_person, assistant, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    root = await post_status(client, alice, "The library opens at nine on Saturdays.")
    asked = await post_status(
        client, bob, "@assistant when does the library open?", in_reply_to_id=root["id"]
    )
    await run_jobs()
    await run_jobs()  # running the queue again changes nothing
    (reply,) = await _replies(client, bob, asked["id"])
    assert reply["account"]["username"] == "assistant" and reply["account"]["bot"] is True
    assert reply["in_reply_to_id"] == asked["id"] and reply["visibility"] == "public"
    assert reply["agora"]["ai_generated"] is True
    assert reply["content"].startswith('<p><span class="h-card"') or "@bob" in reply["content"]
    # anyone may see a reply built from public posts only; bob was notified
    assert (await client.get(f"/api/v1/statuses/{reply['id']}")).status_code == 200
    notes = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert [n["status"]["id"] for n in notes if n["type"] == "mention"] == [reply["id"]]
    async with db.session() as session:
        used = (await session.scalars(select(AiUsage).where(AiUsage.action == "mention"))).all()
    assert len(used) == 1 and used[0].completion_tokens > 0


async def test_reply_using_a_private_post_is_direct(client, make_person, assistant, run_jobs):
    alice, bob, carol = (
        await make_person("alice"),
        await make_person("bob"),
        await make_person("carol"),
    )
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    root = await post_status(client, carol, "Plans for the weekend?")
    await post_status(
        client, alice, "I will be away", in_reply_to_id=root["id"], visibility="private"
    )
    asked = await post_status(client, bob, "@assistant who is away?", in_reply_to_id=root["id"])
    await run_jobs()
    (reply,) = await _replies(client, bob, asked["id"])
    assert reply["visibility"] == "direct" and reply["mentions"][0]["username"] == "bob"
    for stranger in (carol, None):
        headers = stranger.headers if stranger else {}
        seen = await client.get(f"/api/v1/statuses/{reply['id']}", headers=headers)
        assert seen.status_code == 404


async def test_translate_explain_compose_and_quota(client, make_person, assistant, monkeypatch):
    alice, bob = await make_person("alice"), await make_person("bob")
    post = await post_status(client, alice, "Good morning, everyone!")
    r = await client.post(
        f"/api/v1/statuses/{post['id']}/translate", data={"lang": "fr"}, headers=bob.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["content"].startswith("<p>") and "AI" in r.json()["provider"]
    r = await client.post(
        "/api/v1/agora/assistant/explain", json={"status_id": post["id"]}, headers=bob.headers
    )
    assert r.status_code == 200 and r.json()["used_status_ids"] == [post["id"]]
    r = await client.post(
        "/api/v1/agora/assistant/compose",
        json={"action": "shorten", "text": "This is a rather long draft about nothing much."},
        headers=bob.headers,
    )
    assert r.status_code == 200 and r.json()["text"] and r.json()["ai_generated"] is True
    bad = await client.post(
        "/api/v1/agora/assistant/compose", json={"action": "hack", "text": "x"}, headers=bob.headers
    )
    assert bad.status_code == 422
    _use(monkeypatch, ai_daily_quota='{"explain": 1}')
    r = await client.post(
        "/api/v1/agora/assistant/explain", json={"status_id": post["id"]}, headers=bob.headers
    )
    assert r.status_code == 429 and "limit" in r.json()["error"]


async def test_assistant_respects_a_denied_author(client, make_person, assistant):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.patch(
        "/api/v1/agora/data_reuse", json={"assistantContext": False}, headers=alice.headers
    )
    post = await post_status(client, alice, "Do not feed me to the bot")
    r = await client.post(f"/api/v1/statuses/{post['id']}/translate", headers=bob.headers)
    assert r.status_code == 403 and "does not let the assistant" in r.json()["error"]
    secret = await post_status(client, alice, "followers only", visibility="private")
    r = await client.post(f"/api/v1/statuses/{secret['id']}/translate", headers=bob.headers)
    assert r.status_code == 404


async def test_openai_provider_answers_a_mention(
    client,
    db,
    make_person,
    openai_server,
    monkeypatch,
    run_jobs,
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
    bob = await make_person("bob")
    asked = await post_status(client, bob, "@assistant hello")
    await run_jobs()
    assert len(await _replies(client, bob, asked["id"])) == 1


async def _upload(client, person, tmp_path, monkeypatch) -> str:
    from io import BytesIO

    from PIL import Image

    _use(monkeypatch, media_dir=str(tmp_path / "media"))
    image = BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image, "PNG")
    files = {"file": ("red.png", image.getvalue(), "image/png")}
    r = await client.post("/api/v2/media", files=files, headers=person.headers)
    assert r.status_code == 200, r.text  # processed before the answer (202: still processing)
    return r.json()["id"]


async def test_alt_text_needs_a_model_that_sees(
    client, db, make_person, assistant, tmp_path, monkeypatch
):
    alice, bob = await make_person("alice"), await make_person("bob")
    media_id = await _upload(client, alice, tmp_path, monkeypatch)
    url = "/api/v1/agora/assistant/alt_text"
    r = await client.post(url, json={"media_id": media_id}, headers=bob.headers)
    assert r.status_code == 404  # someone else's upload
    r = await client.post(url, json={"media_id": media_id}, headers=alice.headers)
    assert r.status_code == 422 and "cannot see images" in r.json()["error"]
    async with db.session() as session:
        assert (await session.scalars(select(AiUsage))).first() is None


async def test_alt_text_sends_the_image_as_openai_content_parts(
    client, db, make_person, openai_server, tmp_path, monkeypatch
):
    """No model that sees images runs here (none ships as a wheel), so this checks the wire:
    the preview goes out as an `image_url` content part (a data: URL), and a server that cannot
    take it (llama_cpp.server with a text-only model) is a clear 503 that records no usage."""
    from agora.ai.prompts import alt_text_messages
    from agora.ai.providers import _payload

    (_, user) = _payload(alt_text_messages("data:image/jpeg;base64,AAAA"))
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64,AAAA"},
    }
    _use(
        monkeypatch,
        ai_provider="openai",
        openai_base_url=openai_server,
        openai_model="smollm2",
        openai_vision="true",
        ai_max_new_tokens=TOKENS,
        ai_timeout_seconds="120",
    )
    alice = await make_person("alice")
    media_id = await _upload(client, alice, tmp_path, monkeypatch)
    r = await client.post(
        "/api/v1/agora/assistant/alt_text", json={"media_id": media_id}, headers=alice.headers
    )
    assert r.status_code == 503 and r.json()["error"].startswith("The assistant could not answer")
    async with db.session() as session:
        assert (await session.scalars(select(AiUsage))).first() is None


async def test_a_long_thread_is_trimmed_to_the_models_window(
    client, db, make_person, assistant, run_jobs
):
    """Forty long replies hold far more tokens than SmolLM2's 2,048: the context keeps what
    fits, measured with the model's own tokenizer, and the mention is answered."""
    from agora.ai.mentions import FAILURE_TEXT
    from agora.db.models import AssistantReply

    alice, bob = await make_person("alice"), await make_person("bob")
    root = await post_status(client, alice, "Notes from the 12:30 meeting, 2026-11-25")
    filler = "12:34 — #notes, item 7/9: (ok) [x] lorem ipsum dolor sit amet; " * 6
    for n in range(40):
        await post_status(client, alice, f"{n}. {filler}", in_reply_to_id=root["id"])
    asked = await post_status(client, bob, "@assistant sum up?", in_reply_to_id=root["id"])
    await run_jobs()
    (reply,) = await _replies(client, bob, asked["id"])
    assert FAILURE_TEXT not in reply["content"]
    async with db.session() as session:
        guard = await session.get(AssistantReply, int(asked["id"]))
    assert guard is not None and guard.outcome == "answered"


def test_chat_prompts_drop_old_turns_then_sources_to_fit(monkeypatch):
    from datetime import UTC, datetime

    from agora.ai.context import ContextPost
    from agora.ai.prompts import fitted_chat, prompt_room
    from agora.ai.providers import Message, get_provider
    from agora.db.models import Visibility

    _use(monkeypatch, ai_provider="local")
    provider = get_provider()
    long = "the transit strike, the union, 12:30 buses; " * 40
    history = [Message("user" if n % 2 else "assistant", f"{n} {long}") for n in range(6)]
    when = datetime(2026, 11, 25, tzinfo=UTC)
    sources = [ContextPost(n, 1, "ana", when, long, Visibility.PUBLIC) for n in range(5)]
    messages, kept = fitted_chat(provider, history, "What now? " + long, sources)
    used = sum(provider.count_tokens(m.content) for m in messages[1:])
    assert used <= prompt_room(provider)
    assert len(messages) < 2 + len(history) and kept == sources[: len(kept)]
    brief = [Message("user", "Hi?"), Message("assistant", "Hello.")]
    short, all_sources = fitted_chat(provider, brief, "Short?", sources[:2])
    assert short[1:3] == brief and all_sources == sources[:2]  # what fits is left alone
    get_settings.cache_clear()


ECHOES = ("The conversation so far", "no earlier posts you may read", "asks you, in this post")


async def test_prompt_echo_is_never_posted(
    client, db, make_person, assistant, monkeypatch, run_jobs
):
    """The prompt that made the local model post its own template (issue 12, #18): a mention
    with no earlier posts. With seed 3 SmolLM2 answers 'The conversation so far:\\n(no earlier
    posts you may read)\\n\\n@bob asks you, in this…'; what is posted holds no piece of the
    prompt and no `<post>` marker."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from agora.ai.context import ContextPost, ThreadContext
    from agora.ai.prompts import mention_messages
    from agora.ai.providers import get_provider
    from agora.db.models import Post, Visibility

    _use(monkeypatch, ai_seed="3")
    when = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    bob = await make_person("bob")
    asked = await post_status(client, bob, "@assistant what is this?")
    async with db.session(write=True) as session:  # the prompt's time, as when it happened
        await session.execute(
            update(Post).where(Post.id == int(asked["id"])).values(created_at=when)
        )
        await session.commit()
    await run_jobs()
    (reply,) = await _replies(client, bob, asked["id"])
    assert reply["agora"]["ai_generated"] is True
    for echo in (*ECHOES, "&lt;post", "<post", "/post"):
        assert echo not in reply["content"], reply["content"]
    # the same prompt, streamed: no piece of it either
    question = ContextPost(1, bob.id, "bob", when, "@assistant what is this?", Visibility.PUBLIC)
    prompt = mention_messages(ThreadContext(question))
    raw = await get_provider().inner.complete(prompt, 24)  # the model does echo this prompt
    assert raw.text.startswith("The conversation so far:\n(no earlier posts you may read)")
    pieces = [p async for p in get_provider().stream(prompt, 24)]
    streamed = "".join(pieces)
    assert streamed.strip() and not any(e in streamed for e in (*ECHOES, "<post", "/post"))
