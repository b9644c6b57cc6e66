"""The For You feed in the browser: the tab (`/for_you`, each post with a "Why this post"
disclosure and "show more / less like this"), and its settings (`/settings/for_you`: a
slider per weight, on / off, reset). Each is one service call, as the API's doors are."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.reading import for_you_settings
from agora.social.reading.for_you import for_you_page
from agora.social.reading.for_you_scoring import FACTORS, WEIGHTS
from agora.social.rules.errors import Invalid
from agora.web.formatting import Feed
from agora.web.page_feeds import feed_of, feed_response, page_of
from agora.web.post_actions import back, fragment, post_id_of
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, field, is_htmx

router = web_router()


@router.get("/for_you")
async def for_you(request: Request, session: SessionDep, me: Me) -> Response:
    """The ranked feed: a refresh ranks afresh, "Older posts" follows that ranking."""
    page = page_of(request)
    found = await for_you_page(session, me.account.id, page)
    feed = await feed_of(session, me.account.id, found.found, page, "/for_you", context="home")
    ranked = Feed(feed.cards, feed.viewer_id, feed.next_url, found.ranking)
    enabled = (await for_you_settings.feed_settings(session, me.account.id)).enabled
    context = {"nav": "for_you", "heading": "For You", "for_you_off": not enabled}
    return feed_response(request, "timeline.html", context, ranked)


@router.post("/web/for_you/feedback/{post_id}/{what}")
async def feedback(
    request: Request, session: SessionDep, me: Me, form: Form, post_id: str, what: str
) -> Response:
    """ "Show more / show less like this" (`what`: more / less) on a post; the next refresh
    of the feed reads it."""
    await for_you_settings.give_feedback(session, me.account.id, post_id_of(post_id), what)
    if not is_htmx(request):
        return back(request)
    said = "more" if what == "more" else "less"
    return fragment(f'<p class="muted" role="status">Thanks: you will see {said} like this.</p>')


def _sliders(found: for_you_settings.FeedSettings) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "label": spec.label,
            "low": spec.low,
            "high": spec.high,
            "step": 0.05 if name in FACTORS else 0.1,
            "value": found.weights[name],
            "own": name in found.own,
        }
        for name, spec in WEIGHTS.items()
    ]


def _settings_page(
    request: Request, found: for_you_settings.FeedSettings, error: str | None = None
) -> Response:
    context = {
        "nav": "settings",
        "section": "for_you",
        "sliders": _sliders(found),
        "enabled": found.enabled,
        "error": error,
    }
    return render(request, "settings_for_you.html", context, status=422 if error else 200)


@router.get("/settings/for_you")
async def settings_page(request: Request, session: SessionDep, me: Me) -> Response:
    """A slider per weight (the instance's default until moved), and the feed on or off."""
    return _settings_page(request, await for_you_settings.feed_settings(session, me.account.id))


@router.post("/settings/for_you")
async def save_settings(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Save the sliders that differ from the weights in force, and on / off."""
    current = await for_you_settings.feed_settings(session, me.account.id)
    sent: dict[str, object] = {}
    for name in WEIGHTS:
        raw = field(form, name)
        if raw and (name in current.own or _differs(raw, current.weights[name])):
            sent[name] = raw
    try:
        await for_you_settings.update_settings(
            session, me.account.id, sent, flag(field(form, "enabled"))
        )
    except Invalid as exc:
        return _settings_page(request, current, exc.message)
    return RedirectResponse("/settings/for_you?saved=1", status_code=303)


def _differs(raw: str, value: float) -> bool:
    try:
        return abs(float(raw) - value) > 1e-9
    except ValueError:
        return True  # refused, with its message, by the service


@router.post("/settings/for_you/reset")
async def reset(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Back to the instance's weights, the feed on, feedback forgotten."""
    await for_you_settings.reset_settings(session, me.account.id)
    return RedirectResponse("/settings/for_you?saved=1", status_code=303)
