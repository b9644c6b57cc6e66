"""Voting in a poll from the browser (`POST /web/polls/ID/votes`): one call to
agora.social.posts.poll_votes.vote, answering the post with the poll's results (HTMX), or going back
(a plain form). Refusals (an ended poll, a second vote, one's own poll) are the service's
422, shown by app.js in the flash region."""

from __future__ import annotations

from fastapi import Request, Response

from agora.http.deps import SessionDep
from agora.ids import parse_id
from agora.social.posts.poll_votes import vote
from agora.social.rules.errors import Invalid
from agora.web.post_actions import back, post_fragment
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, field, is_htmx

router = web_router()


def choices_of(form: Form) -> list[int]:
    """The options ticked in the poll form (positions from 0); Invalid for anything else."""
    values = [v for v in form.getlist("choices") if isinstance(v, str)]
    if not all(v.isascii() and v.isdigit() and len(v) < 4 for v in values):
        raise Invalid("Validation failed: The chosen vote option does not exist")
    if not values:
        raise Invalid("Choose an option first.")
    return [int(v) for v in values]


@router.post("/web/polls/{poll_id}/votes")
async def vote_in_poll(
    request: Request, session: SessionDep, me: Me, form: Form, poll_id: str
) -> Response:
    """Vote; answers the post (or the boost around it) as it now looks."""
    poll, _ = await vote(session, me.account, id_or_404(poll_id), choices_of(form))
    if not is_htmx(request):
        return back(request)
    shown = parse_id(field(form, "shown"))
    return await post_fragment(session, request, me, [i for i in (shown, poll.post_id) if i])
