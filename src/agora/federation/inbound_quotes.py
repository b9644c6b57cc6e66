"""Received QuoteRequest (FEP-044f): another server asks whether its post may quote a local
one. The answer is the quote rule's (`quote_rule.check_quote`, asked for the requesting actor:
the post is visible to them, not a boost, public or unlisted): `Accept` with a
`QuoteAuthorization` as `result`, or `Reject`, sent to the requester's inbox in the same
transaction. A request for a post that is not local, or made for a post that is not the
requester's (an embedded `instrument` attributed to someone else, or one named on another
host), is ignored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account
from agora.federation import quote_objects
from agora.federation.inbound_common import Handler, id_of, post_named
from agora.federation.outbox import deliver
from agora.social.posts import quote_rule
from agora.social.posts.post_uris import is_local_uri
from agora.social.rules.errors import DomainError


async def may_quote(session: AsyncSession, quoter: Account, post_id: int) -> bool:
    """Whether `quoter` may quote the post (the quote rule)."""
    try:
        await quote_rule.check_quote(session, quoter.id, post_id)
    except DomainError:
        return False
    return True


def _by(actor: Account, instrument: Any, quoting: str) -> bool:
    """Whether the quoting post is the requesting actor's: attributed to them when it is
    embedded, on their host when only named."""
    if isinstance(instrument, dict):
        return id_of(instrument.get("attributedTo")) == actor.uri
    return urlsplit(quoting).netloc.lower() == (actor.domain or "")


async def _quote_request(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    quoted, instrument = id_of(activity.get("object")), activity.get("instrument")
    quoting = id_of(instrument)
    if not quoted or not quoting or not is_local_uri(quoted) or actor.inbox_url is None:
        return
    if not _by(actor, instrument, quoting):
        return  # one may ask only for one's own post
    post = await post_named(session, quoted)
    author = await session.get(Account, post.account_id) if post is not None else None
    if post is None or author is None:
        return
    allowed = await may_quote(session, actor, post.id)
    answer = quote_objects.answer_activity(author, activity, quoted, quoting, allowed)
    deliver(session, author, {actor.inbox_url}, answer)


HANDLERS: dict[str, Handler] = {"QuoteRequest": _quote_request}
UNDO_HANDLERS: dict[str, Handler] = {}
