"""Mastodon entities as pure functions from our models to JSON-ready dicts.

Keys Mastodon leaves out are left out here too (toot crashes on unexpected ones such as
`scheduled_at` in a plain status); ids are strings; images are never null.

Every Account and Status entity built is disclosed to the response's AI-use signals
(`signals.disclose`; a no-op outside a request), so whatever door returns it, the response
carries the most restrictive signal of what it holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agora.api.filter_entities import filter_result_json
from agora.config import get_settings
from agora.data import consent
from agora.data.signals import disclose
from agora.db.models import (
    Account,
    Notification,
    PostEdit,
    PushSubscription,
    Report,
    User,
    UserList,
    Visibility,
)
from agora.social.media.files import MediaInfo, media_urls
from agora.social.media.profile_images import image_url
from agora.social.people.relationships import Relationship
from agora.social.posts.hydrate import PostView
from agora.social.posts.polls import PollView
from agora.social.posts.tags import TagView


def iso(value: datetime | None) -> str | None:
    """Mastodon's timestamp format: `2026-01-02T03:04:05.678Z`."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def account_json(
    account: Account, *, source: bool = False, follow_requests: int = 0, admin: bool = False
) -> dict[str, Any]:
    """The Account entity (with `source` for the owner's own credentials, where
    `follow_requests` is the number of requests waiting for an answer and `role` says whether
    they are an `admin`). A silenced account is marked `limited`, as on Mastodon."""
    disclose(account)
    base = get_settings().base_url
    url = f"{base}/@{account.username}"
    acct, uri = account.username, f"{base}/users/{account.username}"
    if account.domain is not None:  # a remote account (agora.federation)
        acct, uri = f"{account.username}@{account.domain}", account.uri or ""
        url = account.url or uri
    data: dict[str, Any] = {
        "id": str(account.id),
        "username": account.username,
        "acct": acct,
        "display_name": account.display_name,
        "locked": account.locked,
        "bot": account.bot,
        "discoverable": account.discoverable,
        "indexable": account.discoverable,
        "group": False,
        "created_at": iso(account.created_at.replace(hour=0, minute=0, second=0, microsecond=0)),
        "note": account.note_html,
        "url": url,
        "uri": uri,
        "avatar": image_url(account, "avatar"),
        "avatar_static": image_url(account, "avatar"),  # stored as still images
        "header": image_url(account, "header"),
        "header_static": image_url(account, "header"),
        "followers_count": account.followers_count,
        "following_count": account.following_count,
        "statuses_count": account.statuses_count,
        "last_status_at": account.last_status_at.date().isoformat()
        if account.last_status_at
        else None,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [
            {"name": f["name"], "value": f["value"], "verified_at": None} for f in account.fields
        ],
        "agora": {"data_reuse": consent.public_intents(account)},
    }
    if account.silenced_at is not None:
        data["limited"] = True
    if source:
        data["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "",
            "note": account.note,
            "fields": [
                {"name": f["name"], "value": f["value"], "verified_at": None}
                for f in account.fields
            ],
            "follow_requests_count": follow_requests,
            "hide_collections": False,
            "discoverable": account.discoverable,
            "indexable": account.discoverable,
        }
        data["role"] = role_json(admin)
    return data


ADMIN_PERMISSIONS = (1 << 20) - 1  # every permission bit Mastodon's roles define


def role_json(admin: bool) -> dict[str, Any]:
    """The Role entity: Mastodon's "Admin" role with every permission, or the everyone role."""
    if admin:
        return {
            "id": "3",
            "name": "Admin",
            "permissions": str(ADMIN_PERMISSIONS),
            "color": "",
            "highlighted": True,
        }
    return {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}


def status_json(
    view: PostView, viewer_id: int | None, accounts: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The Status entity for a hydrated post (a boost nests its original in `reblog`).
    `accounts` memoises Account entities across the statuses of one response."""
    post = view.post
    disclose(view.account, post if post.reblog_of_id is None else None)
    base = get_settings().base_url
    own = viewer_id is not None and viewer_id == post.account_id
    data: dict[str, Any] = {
        "id": str(post.id),
        "created_at": iso(post.created_at),
        "in_reply_to_id": _sid(post.in_reply_to_id),
        "in_reply_to_account_id": _sid(post.in_reply_to_account_id),
        "sensitive": post.sensitive,
        "spoiler_text": post.spoiler_text,
        "visibility": Visibility(post.visibility).api_name,
        "language": post.language,
        "uri": post.uri or f"{base}/users/{view.account.username}/statuses/{post.id}",
        "url": (post.url or post.uri) if post.uri else f"{base}/@{view.account.username}/{post.id}",
        "replies_count": post.replies_count,
        "reblogs_count": post.reblogs_count,
        "favourites_count": post.favourites_count,
        "edited_at": iso(post.edited_at),
        "favourited": view.favourited,
        "reblogged": view.reblogged,
        "muted": False,
        "bookmarked": view.bookmarked,
        "content": post.content_html,
        "filtered": [filter_result_json(m) for m in view.filtered],  # the viewer's own
        "reblog": (
            status_json(view.reblog, viewer_id, accounts) if view.reblog is not None else None
        ),
        "account": _account_once(view.account, accounts),
        "media_attachments": [media_json(m, post.visibility, viewer_id) for m in view.media],
        "mentions": [
            {"id": str(aid), "username": name, "acct": name, "url": f"{base}/@{name}"}
            for aid, name in view.mentions
        ],
        "tags": [{"name": t, "url": f"{base}/tags/{t}"} for t in view.tags],
        "emojis": [],
        "card": None,
        "poll": poll_json(view.poll, viewer_id, post.account_id) if view.poll else None,
        "quote": _quote(view, viewer_id, accounts),
        "agora": {"no_ai_reuse": post.no_ai_reuse, "ai_generated": post.ai_generated},
    }
    if own:
        data["pinned"] = view.pinned
    if post.reblog_of_id is not None:
        data["uri"] = f"{base}/users/{view.account.username}/statuses/{post.id}/activity"
        data["url"] = None
    return data


def _account_once(account: Account, memo: dict[int, dict[str, Any]] | None) -> dict[str, Any]:
    if memo is None:
        return account_json(account)
    found = memo.get(account.id)
    if found is None:
        found = memo[account.id] = account_json(account)
    return found


def _quote(
    view: PostView, viewer_id: int | None, accounts: dict[int, dict[str, Any]] | None
) -> dict[str, Any] | None:
    if view.post.quote_of_id is None:
        return None
    if view.quote is None:
        return {"state": "unauthorized", "quoted_status": None}
    return {"state": "accepted", "quoted_status": status_json(view.quote, viewer_id, accounts)}


def media_json(media: MediaInfo, visibility: int | None, viewer_id: int | None) -> dict[str, Any]:
    """The MediaAttachment entity as `viewer_id` is shown it (`visibility` is that of its post,
    None while unattached; see media_files for the URLs)."""
    url, preview_url = media_urls(media, visibility, viewer_id)
    meta: dict[str, Any] = {
        "original": _dimensions(media.width, media.height),
        "small": _dimensions(media.preview_width, media.preview_height),
    }
    if media.focus_x is not None and media.focus_y is not None:
        meta["focus"] = {"x": media.focus_x, "y": media.focus_y}
    return {
        "id": str(media.id),
        "type": "image",
        "url": url,
        "preview_url": preview_url,
        "remote_url": None,
        "preview_remote_url": None,
        "meta": meta,
        "description": media.description,
        "blurhash": media.blurhash,
    }


def _dimensions(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}


def poll_json(poll: PollView, viewer_id: int | None, author_id: int) -> dict[str, Any]:
    """The Poll entity. Option totals are null while a `hide_totals` poll runs, except for
    its author; `voted` and `own_votes` only for a signed-in viewer (the author counts as
    having voted, as on Mastodon, so clients show the results)."""
    expired = poll.expired()
    own = viewer_id is not None and viewer_id == author_id
    show_totals = expired or not poll.hide_totals or own
    data: dict[str, Any] = {
        "id": str(poll.id),
        "expires_at": iso(poll.expires_at),
        "expired": expired,
        "multiple": poll.multiple,
        "votes_count": poll.votes_count,
        "voters_count": poll.voters_count,
        "options": [
            {"title": title, "votes_count": votes if show_totals else None}
            for title, votes in poll.options
        ],
        "emojis": [],
    }
    if viewer_id is not None:
        data["voted"] = own or bool(poll.own_votes)
        data["own_votes"] = list(poll.own_votes)
    return data


def _sid(value: int | None) -> str | None:
    return None if value is None else str(value)


def source_json(view: PostView) -> dict[str, Any]:
    """The StatusSource entity (what the author typed)."""
    return {"id": str(view.post.id), "text": view.post.text, "spoiler_text": view.post.spoiler_text}


def edit_json(edit: PostEdit, view: PostView) -> dict[str, Any]:
    """One StatusEdit entry of a post's history."""
    return {
        "content": edit.content_html,
        "spoiler_text": edit.spoiler_text,
        "sensitive": edit.sensitive,
        "created_at": iso(edit.created_at),
        "account": account_json(view.account),
        "poll": None,
        "media_attachments": [],
        "emojis": [],
    }


def list_json(found: UserList) -> dict[str, Any]:
    """The List entity."""
    return {
        "id": str(found.id),
        "title": found.title,
        "replies_policy": found.replies_policy,
        "exclusive": found.exclusive,
    }


def push_subscription_json(found: PushSubscription, server_key: str) -> dict[str, Any]:
    """The WebPushSubscription entity (`server_key`: the server's VAPID public key)."""
    return {
        "id": str(found.id),
        "endpoint": found.endpoint,
        "standard": found.standard,
        "alerts": dict(found.alerts),
        "policy": found.policy,
        "server_key": server_key,
    }


def relationship_json(rel: Relationship) -> dict[str, Any]:
    """The Relationship entity."""
    data = {k: getattr(rel, k) for k in rel.__slots__}
    data["id"] = str(rel.id)
    return data


def notification_json(
    note: Notification,
    account: Account,
    status: dict[str, Any] | None,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Notification entity (`report` for `admin.report`)."""
    data: dict[str, Any] = {
        "id": str(note.id),
        "type": note.type,
        "created_at": iso(note.created_at),
        "account": account_json(account),
    }
    if status is not None:
        data["status"] = status
    if report is not None:
        data["report"] = report
    return data


def report_json(report: Report, target: dict[str, Any]) -> dict[str, Any]:
    """The Report entity (what the reporter sees of their own report)."""
    return {
        "id": str(report.id),
        "action_taken": report.action_taken_at is not None,
        "action_taken_at": iso(report.action_taken_at),
        "category": report.category,
        "comment": report.comment,
        "forwarded": report.forwarded,
        "created_at": iso(report.created_at),
        "status_ids": [str(i) for i in report.status_ids] or None,
        "rule_ids": [str(i) for i in report.rule_ids] or None,
        "target_account": target,
    }


def admin_account_json(account: Account, user: User | None) -> dict[str, Any]:
    """The Admin::Account entity: an account as moderators see it."""
    return {
        "id": str(account.id),
        "username": account.username,
        "domain": None,
        "created_at": iso(account.created_at),
        "email": user.email if user else "",
        "ip": None,
        "ips": [],
        "locale": user.locale if user else "",
        "invite_request": None,
        "role": role_json(bool(user and user.is_admin)),
        "confirmed": user is not None,
        "approved": bool(user and user.approved),
        "disabled": False,
        "silenced": account.silenced_at is not None,
        "suspended": account.suspended_at is not None,
        "sensitized": False,
        "account": account_json(account),
    }


def admin_report_json(
    report: Report, accounts: dict[int, dict[str, Any]], statuses: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Admin::Report entity; `accounts` holds Admin::Account entities by id."""
    by = report.action_taken_by_account_id
    return {
        "id": str(report.id),
        "action_taken": report.action_taken_at is not None,
        "action_taken_at": iso(report.action_taken_at),
        "category": report.category,
        "comment": report.comment,
        "forwarded": report.forwarded,
        "created_at": iso(report.created_at),
        "updated_at": iso(report.updated_at),
        "account": accounts.get(report.account_id),
        "target_account": accounts.get(report.target_account_id),
        "assigned_account": accounts.get(report.assigned_account_id or 0),
        "action_taken_by_account": accounts.get(by or 0),
        "statuses": statuses,
        "rules": [],
    }


def tag_json(view: TagView) -> dict[str, Any]:
    """The Tag entity: name, url, the last seven days of use (newest first; numbers as
    strings, `day` as the Unix time of its midnight) and, when signed in, `following`."""
    data: dict[str, Any] = {
        "name": view.name,
        "url": f"{get_settings().base_url}/tags/{view.name}",
        "history": [
            {"day": str(day * 86_400), "uses": str(uses), "accounts": str(accounts)}
            for day, uses, accounts in view.history
        ],
    }
    if view.id is not None:
        data["id"] = str(view.id)
    if view.following is not None:
        data["following"] = view.following
    return data
