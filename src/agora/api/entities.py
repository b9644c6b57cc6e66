"""Mastodon entities as pure functions from our models to JSON-ready dicts.

Keys Mastodon leaves out are left out here too (toot crashes on unexpected ones such as
`scheduled_at` in a plain status); ids are strings; images are never null.

Every Account and Status entity built is disclosed to the response's AI-use signals
(`signals.disclose`; a no-op outside a request), so whatever door returns it, the response
carries the most restrictive signal of what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agora.api.filter_entities import filter_result_json
from agora.config import get_settings
from agora.data import consent
from agora.data.signals import disclose
from agora.db.models import (
    Account,
    AccountArchive,
    CsvImport,
    CsvImportRow,
    CustomEmoji,
    DomainBlock,
    MediaAttachment,
    Notification,
    PostEdit,
    PreviewCard,
    PushSubscription,
    QuoteState,
    Report,
    ScheduledPost,
    User,
    UserList,
    Visibility,
)
from agora.social.instance.announcements import AnnouncementView
from agora.social.media.card_images import card_image_url
from agora.social.media.custom_emojis import emoji_json, emojis_json, snapshot
from agora.social.media.files import MediaInfo, media_urls
from agora.social.media.profile_images import image_url
from agora.social.people import account_archives
from agora.social.people.domain_blocks import digest, shown_domain
from agora.social.people.relationships import Relationship
from agora.social.posts import quote_rule
from agora.social.posts.hydrate import PostRef, PostView
from agora.social.posts.polls import PollView
from agora.social.posts.post_uris import boost_activity_uri, post_uri
from agora.social.posts.tags import TagView
from agora.social.reading.for_you_scoring import WEIGHTS, Ranked
from agora.social.reading.for_you_settings import FeedSettings, instance_weights
from agora.social.rules.visibility import is_public_or_unlisted


def iso(value: datetime | None) -> str | None:
    """Mastodon's timestamp format: `2026-01-02T03:04:05.678Z`."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def account_json(
    account: Account,
    *,
    source: bool = False,
    follow_requests: int = 0,
    admin: bool = False,
    moved: Account | None = None,
    quote_policy: str = "public",
) -> dict[str, Any]:
    """The Account entity (with `source` for the owner's own credentials, where
    `follow_requests` is the number of requests waiting for an answer, `quote_policy` who may
    quote their new posts, and `role` says whether they are an `admin`). A silenced account
    is marked `limited`, as on Mastodon; an account that moved has the account it moved to as
    `moved` (given by the caller, loaded by `hydrate.moved_targets`; Mastodon leaves it out
    otherwise, and inside `moved`)."""
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
        **account_counts_json(
            account.followers_count,
            account.following_count,
            account.statuses_count,
            account.last_status_at,
        ),
        "hide_collections": account.hide_collections,
        "noindex": False,
        "emojis": emojis_json(account.emojis),
        "roles": [],
        "fields": [
            {"name": f["name"], "value": f["value"], "verified_at": None} for f in account.fields
        ],
        "agora": {"data_reuse": consent.public_intents(account)},
    }
    if account.silenced_at is not None:
        data["limited"] = True
    if moved is not None:
        data["moved"] = account_json(moved)
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
            "hide_collections": account.hide_collections,
            "discoverable": account.discoverable,
            "indexable": account.discoverable,
            "quote_policy": quote_policy,
        }
        data["role"] = role_json(admin)
    return data


def account_counts_json(
    followers: int, following: int, statuses: int, last_status_at: datetime | None
) -> dict[str, Any]:
    """The counters of an Account entity (api/status_cache.py splices them into a cached
    rendering of the rest)."""
    return {
        "followers_count": followers,
        "following_count": following,
        "statuses_count": statuses,
        "last_status_at": last_status_at.date().isoformat() if last_status_at else None,
    }


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
    `accounts` memoises Account entities across the statuses of one response.

    It is the union of two parts, so that api/status_cache.py can render the first once per
    post version and the second per request: `status_shared_json` (the same for every
    viewer and every minute) and `status_viewer_json` (counters, the viewer's own marks, the
    author's Account, the nested statuses, the poll). A key that depends on the viewer, or
    changes without the post's `render_version` changing, belongs to the second."""
    post = view.post
    reblog = status_json(view.reblog, viewer_id, accounts) if view.reblog is not None else None
    quoted = status_json(view.quote, viewer_id, accounts) if view.quote is not None else None
    poll = poll_json(view.poll, viewer_id, post.account_id) if view.poll else None
    account = _account_once(view.account, accounts, view.moved_to)
    facts = StatusFacts.of(view)
    filtered = [filter_result_json(m) for m in view.filtered]
    return {
        **status_shared_json(view, viewer_id),
        **status_viewer_json(facts, viewer_id, account, reblog, quoted, poll, filtered),
    }


def status_shared_json(view: PostView, viewer_id: int | None) -> dict[str, Any]:
    """The part of a Status that is the same for every viewer (see `status_json`), except
    for the media URLs of a followers-only or direct post (`shared_for_everyone`)."""
    post = view.post
    disclose(view.account, post if post.reblog_of_id is None else None)
    base = get_settings().base_url
    data: dict[str, Any] = {
        "id": str(post.id),
        "created_at": iso(post.created_at),
        "in_reply_to_id": _sid(post.in_reply_to_id),
        "in_reply_to_account_id": _sid(post.in_reply_to_account_id),
        "sensitive": post.sensitive,
        "spoiler_text": post.spoiler_text,
        "visibility": Visibility(post.visibility).api_name,
        "language": post.language,
        "uri": post_uri(post.id, post.uri, view.account.username),
        "url": (post.url or post.uri) if post.uri else f"{base}/@{view.account.username}/{post.id}",
        "edited_at": iso(post.edited_at),
        "content": post.content_html,
        "media_attachments": [media_json(m, post.visibility, viewer_id) for m in view.media],
        "mentions": [
            {
                "id": str(aid),
                "username": acct.split("@", 1)[0],
                "acct": acct,
                "url": url or f"{base}/@{acct}",
            }
            for aid, acct, url in view.mentions
        ],
        "tags": [{"name": t, "url": f"{base}/tags/{t}"} for t in view.tags],
        "emojis": emojis_json(post.emojis),
        "card": preview_card_json(view.card) if view.card is not None else None,
        "agora": {"no_ai_reuse": post.no_ai_reuse, "ai_generated": post.ai_generated},
    }
    if view.community_note is not None:  # Helpful: shown (social/community_notes/)
        data["agora"]["community_note"] = view.community_note
    if post.reblog_of_id is not None:
        data["uri"] = boost_activity_uri(post.id, view.account.username)
        data["url"] = None
    return data


def preview_card_json(card: PreviewCard) -> dict[str, Any]:
    """The PreviewCard entity (Mastodon 4.3+, `authors` and all; `history` is added by the
    trends endpoint only). No oEmbed: `html` is empty, `embed_url` is a page's og:video.
    `image` is the small copy served here (none when it could not be fetched)."""
    author = {"name": card.author_name, "url": card.author_url, "account": None}
    return {
        "url": card.url,
        "title": card.title,
        "description": card.description,
        "language": card.language,
        "type": card.type,
        "author_name": card.author_name,
        "author_url": card.author_url,
        "provider_name": card.provider_name,
        "provider_url": card.provider_url,
        "html": "",
        "width": card.width,
        "height": card.height,
        "image": card_image_url(card.id, card.image_file) if card.image_file else None,
        "image_description": card.image_description,
        "embed_url": card.embed_url,
        "blurhash": card.blurhash,
        "published_at": iso(card.published_at),
        "authors": [author] if card.author_name or card.author_url else [],
    }


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What `status_viewer_json` reads of a post: its author, counters, the viewer's flags
    (hydrate.FLAGS: favourited, bookmarked, pinned, reblogged, muted, follows the author),
    the state of its own quote (None: it quotes nothing) and what the quote rule reads of
    it (its `quote_policy`, and whether it is quotable at all: quote_rule.quotable)."""

    author_id: int
    counts: tuple[int, int, int, int]  # replies, reblogs, favourites, quotes
    flags: tuple[bool, ...]
    quote_state: int | None
    quote_policy: int = 0
    quotable: bool = True

    @classmethod
    def of(cls, view: PostView) -> StatusFacts:
        """The facts of a hydrated post."""
        post = view.post
        return cls(
            post.account_id,
            (post.replies_count, post.reblogs_count, post.favourites_count, view.quotes_count),
            (
                view.favourited,
                view.bookmarked,
                view.pinned,
                view.reblogged,
                view.muted,
                view.follows_author,
            ),
            post.quote_state if post.quote_of_id is not None else None,
            post.quote_policy,
            quote_rule.quotable(post),
        )

    @classmethod
    def of_ref(cls, ref: PostRef) -> StatusFacts:
        """The facts of a post read narrowly (api/status_cache.py)."""
        return cls(
            ref.account_id,
            ref.counts,
            ref.flags,
            ref.quote_state if ref.quote_of_id is not None else None,
            ref.quote_policy,
            ref.reblog_id is None and is_public_or_unlisted(ref.visibility),
        )


def status_viewer_json(
    facts: StatusFacts,
    viewer_id: int | None,
    account: Any,
    reblog: Any,
    quoted: Any,
    poll: Any,
    filtered: list[dict[str, Any]],
) -> dict[str, Any]:
    """The part of a Status that varies by viewer or by the minute (see `status_json`); the
    author's Account, the boosted and quoted statuses, the poll and the viewer's filter
    results (FilterResult entities) come rendered (dicts, or orjson fragments from the
    cache)."""
    favourited, bookmarked, pinned, reblogged, muted, follows = facts.flags
    own = viewer_id is not None and viewer_id == facts.author_id
    data: dict[str, Any] = {
        "replies_count": facts.counts[0],
        "reblogs_count": facts.counts[1],
        "favourites_count": facts.counts[2],
        "quotes_count": facts.counts[3],
        "favourited": favourited,
        "reblogged": reblogged,
        "muted": muted,
        "bookmarked": bookmarked,
        "filtered": filtered,
        "reblog": reblog,
        "account": account,
        "poll": poll,
        "quote": _quote(facts.quote_state, quoted),
        "quote_approval": {
            "automatic": quote_rule.automatic_audience(facts.quote_policy, facts.quotable),
            "manual": [],
            "current_user": quote_rule.approval(
                facts.quote_policy,
                facts.quotable,
                own=own,
                follows=follows,
                signed_in=viewer_id is not None,
            ),
        },
    }
    if own:
        data["pinned"] = pinned
    return data


def _account_once(
    account: Account, memo: dict[int, dict[str, Any]] | None, moved: Account | None
) -> dict[str, Any]:
    if memo is None:
        return account_json(account, moved=moved)
    found = memo.get(account.id)
    if found is None:
        found = memo[account.id] = account_json(account, moved=moved)
    return found


def _quote(state: int | None, quoted: Any) -> dict[str, Any] | None:
    """The Quote entity: None when the post quotes nothing; revoked by the quoted author;
    unauthorized when the viewer may not see the quoted post (or it is gone)."""
    if state is None:
        return None
    if state == QuoteState.REVOKED:
        return {"state": "revoked", "quoted_status": None}
    if quoted is None:
        return {"state": "unauthorized", "quoted_status": None}
    return {"state": "accepted", "quoted_status": quoted}


def media_json(media: MediaInfo, visibility: int | None, viewer_id: int | None) -> dict[str, Any]:
    """The MediaAttachment entity as `viewer_id` is shown it (`visibility` is that of its post,
    None while unattached; see media_files for the URLs)."""
    url, preview_url = media_urls(media, visibility, viewer_id)
    meta: dict[str, Any] = {}
    if media.width and media.height:  # unknown for a remote image not fetched here
        meta["original"] = _dimensions(media.width, media.height)
    if media.preview_width and media.preview_height:
        meta["small"] = _dimensions(media.preview_width, media.preview_height)
    if media.focus_x is not None and media.focus_y is not None:
        meta["focus"] = {"x": media.focus_x, "y": media.focus_y}
    if media.duration is not None:
        _timing(meta, media.duration, media.fps)
    return {
        "id": str(media.id),
        "type": media.media_type,
        "url": url,
        "preview_url": preview_url,
        "remote_url": media.remote_url,
        "preview_remote_url": None,
        "meta": meta,
        "description": media.description,
        "blurhash": media.blurhash,
    }


def _timing(meta: dict[str, Any], duration: float, fps: float | None) -> None:
    """Mastodon's meta of a video, gifv or audio file: `length`, `duration` and `fps` at the
    top (with the size of the original), and in `original`."""
    whole = int(duration)
    length = (
        f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int(duration * 100) % 100:02d}"
    )
    original = meta.setdefault("original", {})
    original["duration"] = round(duration, 3)
    meta.update({k: v for k, v in original.items() if k in ("width", "height", "size", "aspect")})
    meta["length"], meta["duration"] = length, round(duration, 3)
    if fps:
        original["frame_rate"] = f"{fps:g}/1"
        meta["fps"] = round(fps)


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
        "emojis": emojis_json(poll.emojis),
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
        "account": account_json(view.account, moved=view.moved_to),
        "poll": None,
        "media_attachments": [],
        "emojis": [],
    }


def custom_emoji_json(emoji: CustomEmoji) -> dict[str, Any]:
    """The CustomEmoji entity of a local emoji (`GET /api/v1/custom_emojis`)."""
    return emoji_json(snapshot(emoji))


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
    status: Any,
    report: dict[str, Any] | None = None,
    moved_to: Account | None = None,
) -> dict[str, Any]:
    """The Notification entity (`report` for `admin.report`, `target` for `move`: the account
    `account` moved to)."""
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
    if moved_to is not None:
        data["target"] = account_json(moved_to)
    return data


def notification_group_json(group: Any, status_id: int | None) -> dict[str, Any]:
    """The NotificationGroup entity (Mastodon 4.3): its accounts and status are listed once at
    the root of the response and named here by id."""
    data: dict[str, Any] = {
        "group_key": group.key,
        "notifications_count": group.count,
        "type": group.type,
        "most_recent_notification_id": str(group.page_max_id),
        "page_min_id": str(group.page_min_id),
        "page_max_id": str(group.page_max_id),
        "latest_page_notification_at": iso(group.latest_at),
        "sample_account_ids": [str(i) for i in group.sample_account_ids],
    }
    if status_id is not None:
        data["status_id"] = str(status_id)
    return data


def partial_account_json(full: dict[str, Any]) -> dict[str, Any]:
    """Mastodon's PartialAccountWithAvatar (enough to draw an avatar in a group) of an Account
    entity."""
    keys = ("id", "acct", "url", "avatar", "avatar_static", "locked", "bot")
    return {key: full[key] for key in keys}


def conversation_json(
    entry_id: int, unread: bool, accounts: list[dict[str, Any]], last_status: Any
) -> dict[str, Any]:
    """The Conversation entity: the other participants and the newest message."""
    return {
        "id": str(entry_id),
        "unread": unread,
        "accounts": accounts,
        "last_status": last_status,
    }


def scheduled_status_json(
    scheduled: ScheduledPost, media: list[MediaAttachment], viewer_id: int
) -> dict[str, Any]:
    """The ScheduledStatus entity: when, the draft's params in Mastodon's names, and its
    media (unattached: URLs for their owner only)."""
    p = scheduled.params
    poll = p.get("poll")
    return {
        "id": str(scheduled.id),
        "scheduled_at": iso(scheduled.scheduled_at),
        "params": {
            "text": p.get("text") or "",
            "poll": None
            if not poll
            else {
                "options": poll["options"],
                "expires_in": str(poll["expires_in"]),
                "multiple": poll["multiple"],
                "hide_totals": poll["hide_totals"],
            },
            "media_ids": [str(i) for i in p["media_ids"]] if p.get("media_ids") else None,
            "sensitive": p.get("sensitive"),
            "spoiler_text": p.get("spoiler_text"),
            "visibility": p.get("visibility") or "public",
            "in_reply_to_id": str(p["in_reply_to_id"]) if p.get("in_reply_to_id") else None,
            "quoted_status_id": str(p["quote_id"]) if p.get("quote_id") else None,
            "quote_approval_policy": p.get("quote_policy"),
            "language": p.get("language"),
            "application_id": str(scheduled.application_id) if scheduled.application_id else None,
            "scheduled_at": None,
            "idempotency": None,
            "with_rate_limit": False,
        },
        "media_attachments": [media_json(MediaInfo.of(m), None, viewer_id) for m in media],
    }


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
    strings, `day` as the Unix time of its midnight) and, when signed in, `following` and
    `featuring` (Mastodon 4.4: featured on the viewer's profile)."""
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
    if view.featuring is not None:
        data["featuring"] = view.featuring
    return data


def announcement_json(view: AnnouncementView) -> dict[str, Any]:
    """Mastodon's Announcement for one viewer (`read`, `reactions[].me`)."""
    a = view.announcement
    return {
        "id": str(a.id),
        "content": view.content,
        "starts_at": iso(a.starts_at),
        "ends_at": iso(a.ends_at),
        "all_day": a.all_day,
        "published": True,
        "published_at": iso(a.published_at),
        "updated_at": iso(a.updated_at),
        "read": view.read,
        "mentions": [],
        "statuses": [],
        "tags": [],
        "emojis": [],
        "reactions": [
            {"name": r.name, "count": r.count, "me": r.me, "url": None, "static_url": None}
            for r in view.reactions
        ],
    }


def admin_domain_block_json(block: DomainBlock) -> dict[str, Any]:
    """Mastodon's Admin::DomainBlock."""
    return {
        "id": str(block.id),
        "domain": block.domain,
        "digest": digest(block.domain),
        "created_at": iso(block.created_at),
        "severity": block.severity,
        "reject_media": block.reject_media,
        "reject_reports": block.reject_reports,
        "private_comment": block.private_comment or None,
        "public_comment": block.public_comment or None,
        "obfuscate": block.obfuscate,
    }


def domain_block_json(block: DomainBlock) -> dict[str, Any]:
    """Mastodon's DomainBlock (the instance's public list): obfuscated when asked."""
    return {
        "domain": shown_domain(block),
        "digest": digest(block.domain),
        "severity": block.severity,
        "comment": block.public_comment or None,
    }


FOR_YOU_LIST_ID = "for_you"
"""The id of the synthetic "For You" list every account has (GET /api/v1/lists)."""


def for_you_list_json() -> dict[str, Any]:
    """The List entity of the For You feed (it cannot be edited or given members)."""
    return {"id": FOR_YOU_LIST_ID, "title": "For You", "replies_policy": "none", "exclusive": False}


def ranking_json(ranked: Ranked) -> dict[str, Any]:
    """`agora.ranking` of a Status in the For You feed: its score, why it is there, and the
    contribution of each weight (they add up to the score)."""
    return {
        "score": round(ranked.score, 6),
        "reasons": list(ranked.reasons),
        "contributions": {name: round(value, 6) for name, value in ranked.contributions.items()},
    }


def for_you_settings_json(found: FeedSettings) -> dict[str, Any]:
    """The person's For You settings: whether it is on, the weights in force, the ones they
    set, and each weight's range and default."""
    return {
        "enabled": found.enabled,
        "weights": found.weights,
        "own": found.own,
        "defaults": instance_weights(),
        "ranges": {
            name: {"min": spec.low, "max": spec.high, "label": spec.label}
            for name, spec in WEIGHTS.items()
        },
    }


def archive_json(archive: AccountArchive) -> dict[str, Any]:
    """Agora's Archive entity: a person's archive and where to download it once ready."""
    state = account_archives.state_of(archive)
    return {
        "id": str(archive.id),
        "state": state,
        "requested_at": iso(archive.requested_at),
        "ready_at": iso(archive.ready_at),
        "expires_at": iso(archive.expires_at),
        "size": archive.size,
        "url": (
            f"{get_settings().base_url}/api/v1/agora/archive/{archive.id}/download"
            if state == account_archives.READY
            else None
        ),
    }


def csv_import_json(found: CsvImport, problems: list[CsvImportRow] | None = None) -> dict[str, Any]:
    """Agora's Import entity: a CSV import's kind, mode, state and progress (and, when
    given, the rows that failed or wait, with their reasons)."""
    data: dict[str, Any] = {
        "id": str(found.id),
        "type": found.kind,
        "mode": "overwrite" if found.overwrite else "merge",
        "file_name": found.file_name,
        "state": found.state,
        "total_items": found.total,
        "processed_items": found.processed,
        "imported_items": found.imported,
        "failed_items": found.failed,
        "waiting_items": found.waiting,
        "created_at": iso(found.created_at),
        "finished_at": iso(found.finished_at),
    }
    if problems is not None:
        data["problems"] = [{"line": r.line, "state": r.state, "error": r.error} for r in problems]
    return data
