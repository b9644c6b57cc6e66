"""Profiles (`/@username`, with posts / replies / media tabs) and threads (`/@username/ID`),
for signed-out visitors and crawlers as for signed-in people (who see what the visibility
rule lets them see, and can follow, reply and act). The profile of an account that moved
says so ("X has moved to Y") and offers the relationship buttons of the new account instead
(following the old one follows the new one anyway: `relationships.follow`). Like every
page, each carries the most restrictive AI-use signal of what it shows (the profile and every
post on it) in HTTP headers and meta tags (`signals.disclose`, `http/signal_hook.py`)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from agora.data.signals import disclose
from agora.db.models import Account
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.http.replica_routing import replica_reads
from agora.social.people import endorsements
from agora.social.people.lookup import find_by_username
from agora.social.people.relationships import relationships
from agora.social.posts import featured_tags
from agora.social.posts.hydrate import load_accounts, moved_targets
from agora.social.reading import remote_threads
from agora.social.reading.timelines import ProfileFilter, account_statuses, context
from agora.social.rules.errors import NotFound
from agora.web.page_feeds import feed_of, feed_response, hydrate, page_of
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Viewer

router = web_router()
TABS = {
    "posts": ProfileFilter(exclude_replies=True),
    "replies": ProfileFilter(),
    "media": ProfileFilter(only_media=True),
}


@router.get("/@{username}", response_class=HTMLResponse)
@replica_reads
async def profile(
    request: Request, session: SessionDep, viewer: Viewer, username: str, tab: str = "posts"
) -> Response:
    """A profile and a page of its posts (tabs: posts, replies, media)."""
    account = await find_by_username(session, username)
    if account is None or tab not in TABS:
        raise NotFound()
    disclose(account)
    viewer_id = viewer.account.id if viewer else None
    page = page_of(request)
    found = await account_statuses(session, viewer_id, account.id, page, TABS[tab])
    path = f"/@{account.username}"
    tab_param = tab if tab != "posts" else None
    feed = await feed_of(session, viewer_id, found, page, path, context="account", tab=tab_param)
    moved = (await moved_targets(session, [account])).get(account.id)
    if moved is not None:
        disclose(moved)
    shown = moved or account  # whom the buttons act on
    relation = None
    if viewer is not None and viewer_id != shown.id:
        relation = (await relationships(session, viewer.account.id, [shown.id]))[0]
    context_ = {
        "account": account,
        "moved": moved,
        "moved_handle": _handle(moved) if moved else "",
        "moved_url": _url(moved) if moved else "",
        "featured_tags": await featured_tags.featured_tags_of(session, account.id),
        "endorsed": await load_accounts(
            session, await endorsements.endorsed_ids(session, account.id)
        ),
        "tab": tab,
        "relation": relation,
        "nav": "me" if viewer_id == account.id else None,
    }
    return feed_response(request, "profile.html", context_, feed)


def _handle(account: Account) -> str:
    return f"@{account.username}@{account.domain}" if account.domain else f"@{account.username}"


def _url(account: Account) -> str:
    return (account.url or account.uri or "") if account.domain else f"/@{account.username}"


@router.get("/@{username}/{post_id}", response_class=HTMLResponse)
@replica_reads
async def thread(
    request: Request, session: SessionDep, viewer: Viewer, username: str, post_id: str
) -> Response:
    """A post with the thread around it, and (signed in) the reply composer."""
    pid = id_or_404(post_id)
    viewer_id = viewer.account.id if viewer else None
    ancestors, descendants = await context(session, viewer_id, pid)
    await remote_threads.complete_later(request.app.state.db, pid)
    views = await hydrate(session, viewer_id, [*ancestors, *descendants], context="thread")
    # the post asked for is shown even when a filter hides it in threads
    found = await hydrate(session, viewer_id, [pid], context="thread")
    focus = next(iter(found or await hydrate(session, viewer_id, [pid])), None)
    if focus is None or focus.account.username.lower() != username.lower():
        raise NotFound()
    focus = focus.reblog or focus
    mentions = [focus.account.username] + [name for _, name, _ in focus.mentions]
    own = viewer.account.username if viewer else None
    context_ = {
        "view": focus,
        "before": [v for v in views if v.post.id in set(ancestors)],
        "after": [v for v in views if v.post.id in set(descendants)],
        "reply_mentions": list(dict.fromkeys(m for m in mentions if m != own)),
        "quote": flag(request.query_params.get("quote")),
    }
    return render(request, "post.html", context_)


def not_found_page(request: Request) -> HTMLResponse:
    """The HTML 404 for pages (the API answers JSON)."""
    return render(request, "not_found.html", {}, status=404)
