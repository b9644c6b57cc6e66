"""Statuses: post, read, edit, delete, context, history, and reactions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from pydantic import Field

from agora.api import serialise
from agora.api.entities import edit_json, media_json, source_json, status_json
from agora.db.engine import end_read_transaction
from agora.db.models import Account
from agora.federation import actors as federation
from agora.http.deps import (
    SessionDep,
    caller,
    caller_id,
    calling_app_id,
    id_param,
    optional_caller,
    optional_caller_id,
    paging,
)
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, flag, listed_ids, openapi_body
from agora.http.replica_routing import replica_reads
from agora.social.media.uploads import MediaEdit, parse_media_ids
from agora.social.posts import interactions, quote_rule, scheduled_posts
from agora.social.posts import writing as posts
from agora.social.posts.hydrate import load_posts
from agora.social.posts.polls import PollDraft
from agora.social.reading import conversation_mutes, remote_threads, timelines
from agora.social.rules.paging import Page, Slice

router = APIRouter(prefix="/api/v1/statuses")

IdStr = str


class MediaAttributes(Params):
    """`media_attributes[][id]`, `[description]`, `[focus]`: alt text and focus changes."""

    id: IdStr
    description: str | None = Field(default=None, max_length=20_000)
    focus: str | None = Field(default=None, max_length=100)


class PollForm(Params):
    """`poll[options][]`, `poll[expires_in]`, `poll[multiple]`, `poll[hide_totals]`."""

    options: list[str] = Field(max_length=100)
    expires_in: int
    multiple: bool = False
    hide_totals: bool = False


class StatusForm(Params):
    status: str | None = Field(default=None, max_length=20_000)
    in_reply_to_id: IdStr | None = None
    quoted_status_id: IdStr | None = None
    quote_id: IdStr | None = None  # Mastodon 4.5's name for `quoted_status_id`
    quote_approval_policy: str | None = None  # public / followers / nobody (quote_rule)
    spoiler_text: str | None = Field(default=None, max_length=20_000)  # None: keep (edits)
    sensitive: bool | None = None  # None: keep (edits)
    visibility: str | None = None
    language: str | None = None
    media_ids: list[str] | None = Field(default=None, max_length=100)  # None: keep (edits)
    media_attributes: list[MediaAttributes] | dict[str, MediaAttributes] | None = None
    scheduled_at: str | None = None
    no_ai_reuse: bool | None = None  # Agora: keep this post out of every AI reuse
    poll: PollForm | None = None


def _media_ids(values: list[str] | None) -> list[int] | None:
    return None if values is None else parse_media_ids([v for v in values if v != ""])


def _media_edits(
    values: list[MediaAttributes] | dict[str, MediaAttributes] | None,
) -> list[MediaEdit]:
    items = list(values.values()) if isinstance(values, dict) else values or []
    ids = _media_ids([item.id for item in items]) or []
    return [MediaEdit(i, a.description, a.focus) for i, a in zip(ids, items, strict=True)]


def _opt_id(value: str | None) -> int | None:
    return None if not value else id_param(value)


def _draft(form: StatusForm) -> posts.Draft:
    return posts.Draft(
        text=form.status or "",
        spoiler_text=form.spoiler_text,
        sensitive=form.sensitive,
        visibility=form.visibility or "public",
        language=form.language or None,
        in_reply_to_id=_opt_id(form.in_reply_to_id),
        quote_id=_opt_id(form.quoted_status_id or form.quote_id),
        quote_policy=form.quote_approval_policy,
        no_ai_reuse=form.no_ai_reuse,
        media_ids=_media_ids(form.media_ids),
        media_edits=_media_edits(form.media_attributes),
        poll=_poll(form.poll),
    )


def _poll(form: PollForm | None) -> PollDraft | None:
    if form is None:
        return None
    return PollDraft(form.options, form.expires_in, form.multiple, form.hide_totals)


async def _resolve_mentions(request: Request, session: SessionDep, text: str | None) -> None:
    """Look up the remote accounts the text mentions that are not stored here yet (through
    federation, as search does), before the post's transaction begins, so that its mentions
    link to them and it is delivered to them."""
    unknown = await federation.unknown_remote_mentions(session, text or "")
    if unknown:
        await end_read_transaction(session)  # no lock is held while other servers answer
        await federation.resolve_handles(request.app.state.db, unknown)


@router.post("", openapi_extra=openapi_body(StatusForm))
async def create(
    request: Request,
    session: SessionDep,
    me_id: int = caller_id("write:statuses"),
    form: StatusForm = body(StatusForm),
    idempotency_key: str | None = Header(default=None, max_length=200),
) -> JSON:
    app_id = calling_app_id(request)
    await _resolve_mentions(request, session, form.status)
    at = scheduled_posts.parse_time(form.scheduled_at) if form.scheduled_at else None
    if at is not None and not scheduled_posts.is_due(at):
        kept = await scheduled_posts.schedule_post(
            session, me_id, _draft(form), at, application_id=app_id
        )
        return JSON((await serialise.scheduled_statuses(session, me_id, [kept]))[0])
    post = await posts.create_post(
        session,
        me_id,
        _draft(form),
        idempotency_key=idempotency_key,
        application_id=app_id,
        commit=False,
    )
    shown = await serialise.shown_status(session, me_id, post.id)  # in the post's transaction
    await session.commit()
    return JSON(shown)


@router.get("")
async def many(
    request: Request, session: SessionDep, viewer: int | None = optional_caller_id("read:statuses")
) -> JSON:
    """Several statuses by `id[]` (Mastodon 4.3; at most 20): those the caller may see, in
    the order asked."""
    return JSON(await serialise.shown_statuses(session, viewer, await listed_ids(request, 20)))


@router.get("/{status_id}")
async def show(
    session: SessionDep, status_id: str, viewer: int | None = optional_caller_id("read:statuses")
) -> JSON:
    return JSON(await serialise.shown_status(session, viewer, id_param(status_id)))


@router.put("/{status_id}", openapi_extra=openapi_body(StatusForm))
async def edit(
    request: Request,
    session: SessionDep,
    status_id: str,
    me: Account = caller("write:statuses"),
    form: StatusForm = body(StatusForm),
) -> JSON:
    await _resolve_mentions(request, session, form.status)
    post = await posts.edit_post(session, me, id_param(status_id), _draft(form))
    return JSON(await serialise.shown_status(session, me.id, post.id))


@router.delete("/{status_id}")
async def destroy(
    session: SessionDep,
    status_id: str,
    delete_media: str | None = None,
    me: Account = caller("write:statuses"),
) -> JSON:
    pid, me_id = id_param(status_id), me.id
    views = await load_posts(session, me_id, [pid])
    if pid not in views:
        raise ApiError(404, "Record not found")
    shown = status_json(views[pid], me_id)
    at_once = flag(delete_media)
    post = await posts.delete_post(session, me, pid, delete_media=at_once)
    await session.commit()
    shown["text"] = post.text  # Mastodon returns the source so clients can "delete & redraft"
    if not at_once:  # the media is kept a day, unattached: URLs for its owner only
        shown["media_attachments"] = [media_json(m, None, me_id) for m in views[pid].media]
    return JSON(shown)


@router.get("/{status_id}/context")
@replica_reads
async def context(
    request: Request,
    session: SessionDep,
    status_id: str,
    viewer: int | None = optional_caller_id("read:statuses"),
) -> JSON:
    ancestors, descendants = await timelines.context(session, viewer, id_param(status_id))
    await remote_threads.complete_later(request.app.state.db, id_param(status_id))
    return JSON(
        {
            "ancestors": await serialise.shown_statuses(
                session, viewer, ancestors, context="thread"
            ),
            "descendants": await serialise.shown_statuses(
                session, viewer, descendants, context="thread"
            ),
        }
    )


@router.get("/{status_id}/history")
async def history(
    session: SessionDep, status_id: str, me: Account | None = optional_caller("read:statuses")
) -> JSON:
    viewer = me.id if me else None
    pid = id_param(status_id)
    edits = await posts.post_history(session, viewer, pid)
    views = await load_posts(session, viewer, [pid])
    return JSON([edit_json(e, views[pid]) for e in edits] if pid in views else [])


@router.get("/{status_id}/source")
async def source(
    session: SessionDep, status_id: str, me: Account = caller("read:statuses")
) -> JSON:
    pid = id_param(status_id)
    post = await posts.get_visible_post(session, me.id, pid)
    views = await load_posts(session, me.id, [post.id])
    return JSON(source_json(views[post.id]))


async def _react(session: SessionDep, me: Account, post_id: int) -> JSON:
    return JSON(await serialise.shown_status(session, me.id, post_id))


class ReblogForm(Params):
    visibility: str = "public"


@router.post("/{status_id}/reblog", openapi_extra=openapi_body(ReblogForm))
async def reblog(
    session: SessionDep,
    status_id: str,
    me: Account = caller("write:statuses"),
    form: ReblogForm = body(ReblogForm),
) -> JSON:
    me_id = me.id  # a lost race between two boosts expires `me`
    boost = await interactions.reblog(session, me, id_param(status_id), form.visibility)
    await session.commit()
    return JSON(await serialise.shown_status(session, me_id, boost.id))


@router.post("/{status_id}/unreblog")
async def unreblog(
    session: SessionDep, status_id: str, me: Account = caller("write:statuses")
) -> JSON:
    post = await interactions.unreblog(session, me, id_param(status_id))
    await session.commit()
    return await _react(session, me, post.id)


def _toggle(action: Any, scope: str, path: str, **kw: Any) -> None:
    async def endpoint(session: SessionDep, status_id: str, me: Account = caller(scope)) -> JSON:
        post = await action(session, me, id_param(status_id), **kw)
        await session.commit()
        return await _react(session, me, post.id)

    endpoint.__name__ = path
    router.add_api_route(f"/{{status_id}}/{path}", endpoint, methods=["POST"], name=path)


_toggle(interactions.favourite, "write:favourites", "favourite")
_toggle(interactions.unfavourite, "write:favourites", "unfavourite")
_toggle(interactions.set_bookmark, "write:bookmarks", "bookmark", on=True)
_toggle(interactions.set_bookmark, "write:bookmarks", "unbookmark", on=False)
_toggle(interactions.set_pin, "write:accounts", "pin", on=True)
_toggle(interactions.set_pin, "write:accounts", "unpin", on=False)
_toggle(conversation_mutes.set_conversation_mute, "write:mutes", "mute", on=True)
_toggle(conversation_mutes.set_conversation_mute, "write:mutes", "unmute", on=False)


class InteractionPolicyForm(Params):
    quote_approval_policy: str | None = None


@router.put("/{status_id}/interaction_policy", openapi_extra=openapi_body(InteractionPolicyForm))
async def interaction_policy(
    session: SessionDep,
    status_id: str,
    me: Account = caller("write:statuses"),
    form: InteractionPolicyForm = body(InteractionPolicyForm),
) -> JSON:
    """Change who may quote one's post (Mastodon 4.5)."""
    me_id = me.id
    post = await quote_rule.set_quote_policy(
        session, me, id_param(status_id), form.quote_approval_policy
    )
    return JSON(await serialise.shown_status(session, me_id, post.id))


@router.get("/{status_id}/quotes")
async def quotes(
    request: Request,
    session: SessionDep,
    status_id: str,
    page: Page = paging(20, 40),
    me: Account | None = optional_caller("read:statuses"),
) -> JSON:
    """The posts that quote this one (accepted quotes the caller may see), newest first."""
    viewer = me.id if me else None
    found = await quote_rule.quotes_of(session, viewer, id_param(status_id), page)
    return paged(
        request,
        await serialise.shown_statuses(session, viewer, found.items),
        found.next_max_id,
        found.prev_min_id,
    )


@router.post("/{status_id}/quotes/{quoting_status_id}/revoke")
async def revoke_quote(
    session: SessionDep,
    status_id: str,
    quoting_status_id: str,
    me: Account = caller("write:statuses"),
) -> JSON:
    """Revoke the quote a post makes of the caller's post; answers the quoting post."""
    me_id = me.id
    quoting = await quote_rule.revoke_quote(
        session, me, id_param(status_id), id_param(quoting_status_id)
    )
    return JSON(await serialise.shown_status(session, me_id, quoting.id))


async def _who(request: Request, session: SessionDep, found: Slice[int]) -> JSON:
    return paged(
        request,
        await serialise.accounts(session, found.items),
        found.next_max_id,
        found.prev_min_id,
    )


@router.get("/{status_id}/favourited_by")
async def favourited_by(
    request: Request,
    session: SessionDep,
    status_id: str,
    page: Page = paging(40, 80),
    me: Account | None = optional_caller("read:statuses"),
) -> JSON:
    found = await timelines.favourited_by(session, me.id if me else None, id_param(status_id), page)
    return await _who(request, session, found)


@router.get("/{status_id}/reblogged_by")
async def reblogged_by(
    request: Request,
    session: SessionDep,
    status_id: str,
    page: Page = paging(40, 80),
    me: Account | None = optional_caller("read:statuses"),
) -> JSON:
    found = await timelines.reblogged_by(session, me.id if me else None, id_param(status_id), page)
    return await _who(request, session, found)
