"""The quote rule and what follows from it: who may quote a post, revoking a quote, and the
quotes of a post (Mastodon 4.5's quote posts).

Invariant: `check_quote` is the one rule every door asks before a post quotes another: the
API and the web app when writing or scheduling, a scheduled post when it is due, and
federation for a received quote and a QuoteRequest (answered `Reject` when it fails) and the
stateless QuoteAuthorization. A post may be quoted when it is visible to the quoting author, not a
boost, public or unlisted, and either theirs or its `quote_policy` lets them: `public`
anyone, `followers` those who follow its author, `nobody` no one but its author. The same rule,
read as `approval`, tells a viewer whether they may quote (`quote_approval.current_user`).

A quote, once written, is accepted; the quoted post's author may revoke it
(`revoke_quote`): the quoting post stays, its quote shows as revoked (`quote_state`), it is
no longer listed among the quotes, its QuoteAuthorization is no longer answered, and a
remote quoting post's server is sent the authorization's `Delete` (FEP-044f).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, ScalarSelect, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Follow, Post, QuotePolicy, QuoteState, User
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.reading.remote_audience import schedule_federation
from agora.social.rules.errors import Forbidden, Invalid, NotFound
from agora.social.rules.paging import Page, Slice, apply_page, slice_of
from agora.social.rules.visibility import is_public_or_unlisted, plain_visible_to

NOT_ALLOWED = "Validation failed: Quoting this post is not allowed"
INVALID_POLICY = "Validation failed: Quote approval policy is not included in the list"


def parse_policy(name: str | None) -> QuotePolicy | None:
    """A `quote_approval_policy` value (None: not given); Invalid when it is none of
    public / followers / nobody."""
    if name is None or name == "":
        return None
    try:
        return QuotePolicy.parse(name)
    except KeyError:
        raise Invalid(INVALID_POLICY) from None


async def default_quote_policy(session: AsyncSession, account_id: int) -> QuotePolicy:
    """Who may quote an account's new posts unless a post says otherwise (public for an
    account without sign-in, such as the assistant)."""
    return policy_or_public(await session.scalar(select(default_policy_of(account_id))))


def default_policy_of(account: int | ColumnElement[int]) -> ScalarSelect[int | None]:
    """SQL: the account's default quote policy as stored (NULL for an account without
    sign-in; `policy_or_public` reads it), for a read that wants it with other things."""
    return select(User.default_quote_policy).where(User.account_id == account).scalar_subquery()


def policy_or_public(stored: int | None) -> QuotePolicy:
    """A default quote policy as `default_policy_of` reads it: public when there is none."""
    return QuotePolicy(stored or 0)


def approval(
    policy: int, quotable: bool, *, own: bool, follows: bool, signed_in: bool = True
) -> str:
    """Whether a viewer may quote a post, as `quote_approval.current_user` says it:
    "automatic" or "denied" ("unknown" for nobody in particular). `quotable`: the post is
    public or unlisted and not a boost; `own`: the viewer wrote it; `follows`: the viewer
    follows its author."""
    if own:
        return "automatic"
    if not signed_in:
        return "unknown"
    if not quotable or policy == QuotePolicy.NOBODY:
        return "denied"
    if policy == QuotePolicy.FOLLOWERS and not follows:
        return "denied"
    return "automatic"


def automatic_audience(policy: int, quotable: bool) -> list[str]:
    """`quote_approval.automatic`: who may quote without asking ("public", "followers")."""
    if not quotable or policy == QuotePolicy.NOBODY:
        return []
    return ["followers" if policy == QuotePolicy.FOLLOWERS else "public"]


def quotable(post: Post) -> bool:
    """Whether a post can be quoted by anyone but its author at all (the policy aside)."""
    return post.reblog_of_id is None and is_public_or_unlisted(post.visibility)


async def check_quote(session: AsyncSession, author_id: int | None, quote_id: int | None) -> None:
    """The quote rule (see the module docstring): NotFound when the quoted post is not
    visible to the quoting author, Invalid when it may not be quoted by them."""
    if quote_id is None:
        return
    quoted = await session.scalar(
        select(Post).where(Post.id == quote_id, plain_visible_to(author_id, Post))
    )
    if quoted is None:
        raise NotFound()
    if not quotable(quoted):
        raise Invalid("Validation failed: Only public or unlisted posts can be quoted")
    if quoted.account_id == author_id:
        return
    follows = author_id is not None and bool(
        await session.scalar(
            select(
                exists().where(
                    Follow.account_id == author_id, Follow.target_account_id == quoted.account_id
                )
            )
        )
    )
    verdict = approval(quoted.quote_policy, True, own=False, follows=follows)
    if verdict != "automatic":
        raise Invalid(NOT_ALLOWED)


async def set_quote_policy(
    session: AsyncSession, editor: Account, post_id: int, name: str | None
) -> Post:
    """Change who may quote one's own post (PUT /api/v1/statuses/:id/interaction_policy):
    NotFound unless visible, Forbidden unless the editor's, Invalid for a bad or missing
    policy. Quotes already made stay. Other servers are sent the post's new
    `interactionPolicy` (an Update). Commits."""
    policy = parse_policy(name)
    if policy is None:
        raise Invalid(INVALID_POLICY)
    post = await session.scalar(
        select(Post).where(Post.id == post_id, plain_visible_to(editor.id, Post))
    )
    if post is None or post.reblog_of_id is not None:
        raise NotFound()
    if post.account_id != editor.id:
        raise Forbidden()
    post.quote_policy = int(policy)
    await schedule_federation(session, post, "update")
    await session.commit()
    return post


async def revoke_quote(
    session: AsyncSession, actor: Account, quoted_id: int, quoting_id: int
) -> Post:
    """Revoke the quote `quoting_id` makes of `actor`'s post `quoted_id`: NotFound unless the
    quoted post is visible to them and that post quotes it (accepted), Forbidden unless it is
    theirs. Returns the quoting post. Commits."""
    quoted = await session.scalar(
        select(Post).where(Post.id == quoted_id, plain_visible_to(actor.id, Post))
    )
    quoting = await session.scalar(
        select(Post).where(
            Post.id == quoting_id,
            Post.quote_of_id == quoted_id,
            Post.quote_state == QuoteState.ACCEPTED,
            Post.deleted_at.is_(None),
        )
    )
    if quoted is None or quoting is None:
        raise NotFound()
    if quoted.account_id != actor.id:
        raise Forbidden()
    quoting.quote_state = int(QuoteState.REVOKED)
    if quoting.uri is not None:  # a remote post: its author's server is told
        enqueue(session, JobKind.FEDERATE_QUOTE_REVOCATION, {"post_id": quoting.id})
    await session.commit()
    return quoting


async def quotes_of(
    session: AsyncSession, viewer_id: int | None, post_id: int, page: Page
) -> Slice[int]:
    """The posts that quote a post the viewer may see (accepted quotes, newest first), those
    the viewer may see; NotFound for a post they may not see."""
    visible = await session.scalar(
        select(Post.id).where(Post.id == post_id, plain_visible_to(viewer_id, Post))
    )
    if visible is None:
        raise NotFound()
    query = select(Post.id, Post.id).where(
        Post.quote_of_id == post_id,
        Post.quote_state == QuoteState.ACCEPTED,
        plain_visible_to(viewer_id, Post),
    )
    rows = list((await session.execute(apply_page(query, Post.id, page))).all())
    return slice_of(rows, page)
