"""Quotes across servers (FEP-044f), as objects: what a local Note says about quoting, and
the quote a received Note carries.

Sent: every local Note publishes `interactionPolicy.canQuote`, derived from the one quote
rule (`quote_rule.check_quote`: a public or unlisted post by whom its `quote_policy` names,
anyone or its author's followers; a `nobody` one, a followers-only or direct post by nobody
but its author); a quoting Note names the
quoted post in `quote` (FEP-044f), `quoteUri` and `_misskey_quote` (older implementations)
and a FEP-e232 `Link` tag.

Received: the quoted post is read from the same four places (`quoted_uri`); a post already
here is linked at once through the same quote rule, as a local quote would be (a post the
quoting author may not quote is not linked); one not here is fetched by a
`fetch_remote_post` job, which links it once stored.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote as urlquote

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Post
from agora.federation.actors import AS_PUBLIC, CONTEXT, actor_uri
from agora.federation.inbound_common import id_of, post_named
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.posts import quote_rule
from agora.social.rules.errors import DomainError

FETCH_ATTEMPTS = 4  # a quoted post that cannot be fetched is given up after these
AP_LINK_TYPES = {
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
    "application/activity+json",
}


def interaction_policy(post: Post, author: Account) -> dict[str, Any]:
    """`interactionPolicy` of a local Note: who may quote it without asking."""
    audience = quote_rule.automatic_audience(post.quote_policy, quote_rule.quotable(post))
    named = {"public": AS_PUBLIC, "followers": f"{actor_uri(author)}/followers"}
    return {"canQuote": {"automaticApproval": [named[a] for a in audience] or [actor_uri(author)]}}


def quote_fields(quoted: str) -> dict[str, Any]:
    """What a quoting Note adds to name the quoted post (see the module docstring)."""
    return {"quote": quoted, "quoteUri": quoted, "_misskey_quote": quoted}


def quote_link(quoted: str) -> dict[str, Any]:
    """The FEP-e232 tag naming the quoted post."""
    return {
        "type": "Link",
        "mediaType": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "href": quoted,
        "name": f"RE: {quoted}",
    }


def quoted_uri(note: dict[str, Any]) -> str | None:
    """The id of the post a received Note quotes, if any."""
    for key in ("quote", "quoteUri", "quoteUrl", "_misskey_quote"):
        found = id_of(note.get(key))
        if found:
            return found
    tags = note.get("tag")
    for tag in tags if isinstance(tags, list) else []:
        if (
            isinstance(tag, dict)
            and tag.get("type") == "Link"
            and tag.get("mediaType") in AP_LINK_TYPES
            and isinstance(tag.get("href"), str)
        ):
            return str(tag["href"])
    return None


async def link_quote(session: AsyncSession, quoting: Post, quoted_id: int) -> bool:
    """Make a stored remote post quote a stored post, when the quote rule lets its author
    quote it. Does not commit."""
    try:
        await quote_rule.check_quote(session, quoting.account_id, quoted_id)
    except DomainError:
        return False
    await session.execute(update(Post).where(Post.id == quoting.id).values(quote_of_id=quoted_id))
    return True


async def attach_received_quote(session: AsyncSession, post: Post, note: dict[str, Any]) -> None:
    """Link a just stored remote post to the post it quotes, or schedule fetching it."""
    uri = quoted_uri(note)
    if uri is None or uri == post.uri:
        return
    quoted = await post_named(session, uri)
    if quoted is not None:
        await link_quote(session, post, quoted.id)
    else:
        enqueue(
            session,
            JobKind.FETCH_REMOTE_POST,
            {"uri": uri, "quoted_by": post.id},
            max_attempts=FETCH_ATTEMPTS,
        )


def authorization_uri(quoted: str, quoting: str) -> str:
    """The id of the QuoteAuthorization that lets `quoting` quote the local post `quoted`:
    stateless, answered by re-checking the quote rule each time it is fetched."""
    return f"{quoted}/quote_authorization?quote={quote_param(quoting)}"


def quote_param(uri: str) -> str:
    """A URI as one query parameter value."""
    return urlquote(uri, safe="")


def authorization_json(author: Account, quoted: str, quoting: str) -> dict[str, Any]:
    """A QuoteAuthorization (FEP-044f) of a local post."""
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {
                "QuoteAuthorization": "https://w3id.org/fep/044f#QuoteAuthorization",
                "gts": "https://gotosocial.org/ns#",
                "interactingObject": {"@id": "gts:interactingObject", "@type": "@id"},
                "interactionTarget": {"@id": "gts:interactionTarget", "@type": "@id"},
            },
        ],
        "id": authorization_uri(quoted, quoting),
        "type": "QuoteAuthorization",
        "attributedTo": actor_uri(author),
        "interactingObject": quoting,
        "interactionTarget": quoted,
    }


def revocation_activity(
    author: Account, quoter: Account, quoted: str, quoting: str
) -> dict[str, Any]:
    """The `Delete` of the QuoteAuthorization that let `quoting` quote the local `quoted`
    (its author revoked the quote)."""
    authorization = authorization_uri(quoted, quoting)
    return {
        "@context": CONTEXT,
        "id": f"{actor_uri(author)}#quote_revocations/{_digest(authorization)}",
        "type": "Delete",
        "actor": actor_uri(author),
        "to": [actor_uri(quoter)],
        "object": {"id": authorization, "type": "QuoteAuthorization"},
    }


def answer_activity(
    author: Account, request: dict[str, Any], quoted: str, quoting: str, accepted: bool
) -> dict[str, Any]:
    """Accept (with the QuoteAuthorization as `result`) or Reject of a QuoteRequest."""
    requester = id_of(request.get("actor")) or ""
    verb = "Accept" if accepted else "Reject"
    answer: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{actor_uri(author)}#quote_requests/{_digest(str(request.get('id')))}/{verb}",
        "type": verb,
        "actor": actor_uri(author),
        "to": [requester],
        "object": {
            "id": request.get("id"),
            "type": "QuoteRequest",
            "actor": requester,
            "object": quoted,
            "instrument": quoting,
        },
    }
    if accepted:
        answer["result"] = authorization_uri(quoted, quoting)
    return answer


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
