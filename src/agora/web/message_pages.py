"""Direct messages in the browser: `/messages` lists the person's conversations (newest
message first, infinite scroll), each with its other participants, its last message as a post
card and whether it is unread; a conversation can be marked read or removed, and a new one
started from the composer set to "Direct". Each action is one call of
social/reading/conversations.py (someone else's conversation is NotFound there: a 404 page
here); the last messages are hydrated for the viewer like any timeline."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_accounts, disclose_views
from agora.db.models import Account
from agora.http.deps import SessionDep
from agora.social.posts.hydrate import PostView, load_accounts, load_posts
from agora.social.reading import conversations
from agora.web.formatting import next_url
from agora.web.page_feeds import page_of
from agora.web.post_actions import fragment
from agora.web.render import render, render_fragment
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, is_htmx

router = web_router()


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as the page shows it: its id, unread state, the other participants and
    the last message."""

    id: int
    unread: bool
    people: list[Account]
    view: PostView


async def conversation_views(
    session: AsyncSession, viewer_id: int, found: list[conversations.Conversation]
) -> list[ConversationView]:
    """The conversations with their people and last messages, in constant queries; those
    whose last message the viewer may not see are left out."""
    ids = [i for c in found for i in c.participant_ids]
    people = {a.id: a for a in await load_accounts(session, ids)}
    views = await load_posts(session, viewer_id, [c.entry.last_post_id for c in found])
    shown = [
        ConversationView(
            c.entry.id,
            c.entry.unread,
            [people[i] for i in c.participant_ids if i in people],
            views[c.entry.last_post_id],
        )
        for c in found
        if c.entry.last_post_id in views
    ]
    disclose_accounts(a for c in shown for a in c.people)
    disclose_views(c.view for c in shown)
    return shown


@router.get("/messages")
async def messages(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's conversations, the most recently active first, and a composer for a new
    direct message."""
    page = page_of(request)
    found = await conversations.list_conversations(session, me.account.id, page)
    items = await conversation_views(session, me.account.id, found.items)
    more = next_url("/messages", found.next_max_id, len(found.items) >= page.limit)
    context = {"items": items, "next_url": more, "nav": "messages"}
    if is_htmx(request) and request.query_params.get("max_id"):
        html = render_fragment("_messages_page.html", **context, viewer=me, csrf=request.state.csrf)
        return fragment(html)
    return render(request, "messages.html", {**context, "default_visibility": "direct"})


@router.post("/messages/{conversation_id}/read")
async def mark_read(session: SessionDep, me: Me, form: Form, conversation_id: str) -> Response:
    """Mark a conversation read."""
    await conversations.mark_read(session, me.account.id, id_or_404(conversation_id))
    return RedirectResponse("/messages", status_code=303)


@router.post("/messages/{conversation_id}/remove")
async def remove(session: SessionDep, me: Me, form: Form, conversation_id: str) -> Response:
    """Remove a conversation from the list (it comes back with its next message)."""
    await conversations.remove(session, me.account.id, id_or_404(conversation_id))
    return RedirectResponse("/messages", status_code=303)
