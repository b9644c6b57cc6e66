"""The assistant in the browser: Explain / Summarise / Translate on any post, the composer's
helpers (rewrite, shorten, fix spelling, suggest hashtags) and private chats whose answers
stream as they are written and list the posts they used.

Every call goes through `agora.ai` (quotas, model slots, visibility and consent), exactly as
the API's assistant routes do. The request's own transaction is ended before the model is
called (on SQLite it would hold the write lock for as long as the model writes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.ai import actions, chat
from agora.db.engine import Database
from agora.db.models import AssistantMessage
from agora.http.deps import SessionDep
from agora.http.streaming.frames import json_sse
from agora.social.posts.hydrate import PostView
from agora.social.rules.errors import DomainError, NotFound
from agora.web.page_feeds import hydrate
from agora.web.post_actions import came_from, fragment, post_id_of
from agora.web.render import SECURITY_HEADERS, render, render_fragment
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, field, is_htmx

router = web_router()
TITLES = {
    "explain": "Explanation",
    "summarise": "Summary of the thread",
    "translate": "Translation",
}
DRAFT_LABELS = {
    "rewrite": "Rewritten",
    "shorten": "Shorter",
    "fix_spelling": "Spelling fixed",
    "suggest_hashtags": "Suggested hashtags",
}


def _show(request: Request, template: str, context: dict[str, Any]) -> Response:
    """The answer as a fragment for HTMX, or inside a page for a plain form."""
    context = {**context, "as_html": actions.as_html}
    if is_htmx(request):
        return fragment(render_fragment(template, **context))
    page = {**context, "fragment": template, "back": came_from(request)}
    return render(request, "assistant_answer.html", page)


@router.post("/web/statuses/{post_id}/assistant")
async def on_post(
    request: Request, session: SessionDep, me: Me, form: Form, post_id: str
) -> Response:
    """Explain a post, summarise its thread, or translate it into the reader's language
    (the form's `ask` field says which)."""
    action = field(form, "ask")
    if action not in TITLES:
        raise NotFound()
    pid = post_id_of(post_id)
    me_id = me.account.id
    await session.commit()  # no transaction held while the model writes
    answer = await actions.about_post(request.app.state.db, me_id, action, pid)
    async with request.app.state.db.session() as reading:
        used = await hydrate(reading, me_id, answer.used_ids)
    context = {"title": TITLES[action], "answer": answer, "used": used}
    return _show(request, "_assistant_answer.html", context)


@router.post("/web/assistant/draft")
async def on_draft(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Help with the composer's draft; the person decides whether to use the suggestion."""
    action = field(form, "assist")
    me_id = me.account.id
    await session.commit()
    text = await actions.help_with_draft(request.app.state.db, me_id, action, field(form, "status"))
    context = {"title": DRAFT_LABELS.get(action, "Suggestion"), "text": text}
    return _show(request, "_draft_suggestion.html", context)


@router.get("/assistant")
async def chats(request: Request, session: SessionDep, me: Me) -> Response:
    """The chat page: the person's conversations and a box to start a new one."""
    listed = await chat.conversations(session, me.account.id)
    context = {"nav": "assistant", "conversations": listed, "conversation": None, "turns": []}
    return render(request, "assistant.html", context)


@router.get("/assistant/{conversation_id}")
async def conversation_page(
    request: Request, session: SessionDep, me: Me, conversation_id: str
) -> Response:
    """One conversation with every answer's sources (only those the viewer may still see)."""
    found = await chat.get_conversation(session, me.account.id, id_or_404(conversation_id))
    turns = await chat.messages(session, found.id)
    context = {
        "nav": "assistant",
        "conversations": await chat.conversations(session, me.account.id),
        "conversation": found,
        "turns": await _with_sources(session, me.account.id, turns),
        "as_html": actions.as_html,
    }
    return render(request, "assistant.html", context)


@router.post("/web/assistant/ask")
async def ask(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Ask in a conversation (a new one when no `conversation_id` is given). A browser that
    accepts `text/event-stream` gets the answer as it is written (`token` events, then `done`
    with the rendered message); a plain form waits for it and goes to the conversation."""
    me_id = me.account.id
    db: Database = request.app.state.db
    raw_id = field(form, "conversation_id")
    conversation_id = id_or_404(raw_id) if raw_id else None
    if conversation_id is None:
        conversation_id = (await chat.create_conversation(session, me_id)).id
    await session.commit()
    turn = await _prepare(db, me_id, conversation_id, field(form, "content"), created=not raw_id)
    if request.headers.get("accept") == "text/event-stream":
        return StreamingResponse(
            _events(db, turn),
            media_type="text/event-stream",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
        )
    async for _ in chat.stream_answer(db, turn):
        pass
    return RedirectResponse(f"/assistant/{conversation_id}#latest", status_code=303)


@router.post("/web/assistant/{conversation_id}/delete")
async def delete(
    request: Request, session: SessionDep, me: Me, form: Form, conversation_id: str
) -> Response:
    """Delete a conversation and all its messages."""
    await chat.delete_conversation(session, me.account.id, id_or_404(conversation_id))
    return RedirectResponse("/assistant", status_code=303)


async def _prepare(
    db: Database, me_id: int, conversation_id: int, question: str, *, created: bool
) -> chat.Turn:
    """`chat.prepare_turn`; a conversation made for this question goes if it cannot be asked."""
    try:
        return await chat.prepare_turn(db, me_id, conversation_id, question)
    except DomainError:
        if created:
            async with db.session(write=True) as session:
                await chat.delete_conversation(session, me_id, conversation_id)
        raise


async def _with_sources(
    session: AsyncSession, viewer_id: int, turns: list[AssistantMessage]
) -> list[tuple[AssistantMessage, list[PostView]]]:
    """Each message with the posts it cites that the viewer may see (one hydration)."""
    wanted = [int(i) for m in turns for i in m.cited_post_ids]
    views = {v.post.id: v for v in await hydrate(session, viewer_id, wanted)}
    return [(m, [views[int(i)] for i in m.cited_post_ids if int(i) in views]) for m in turns]


async def _events(db: Database, turn: chat.Turn) -> AsyncIterator[bytes]:
    async for event, data in chat.answer_events(db, turn):
        yield json_sse(event, data)
        if event == "error":
            return
    async with db.session() as session:
        turns = await chat.messages(session, turn.conversation_id)
        shown = await _with_sources(session, turn.account_id, turns[-2:])
    html = "".join(
        render_fragment("_chat_message.html", message=m, sources=s, as_html=actions.as_html)
        for m, s in shown
    )
    url = f"/assistant/{turn.conversation_id}"
    yield json_sse("done", {"html": html, "url": url, "conversation_id": str(turn.conversation_id)})
