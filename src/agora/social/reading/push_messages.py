"""What a Web Push says, decided when its job runs: the subscription's endpoint and keys and
Mastodon's push payload for one notification.

Invariant: nothing is pushed that the recipient could not read now: the notification must
still be readable (`notifications.get_notification`: visibility, blocks, notification mutes,
role), and no push comes from an account the recipient mutes in any way (even a mute that
leaves notifications in the list) or that stands behind a block either way, and nothing whose
post one of the recipient's filters hides in notifications. The subscription must still be
live (`push_subscriptions.live_holder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Block, Mute, Post, PushSubscription, User, utcnow
from agora.social.media.profile_images import image_url
from agora.social.posts.hydrate import load_posts
from agora.social.reading.notifications import get_notification
from agora.social.reading.push_subscriptions import live_holder
from agora.social.rules.errors import NotFound

BODY_CHARS = 140


def _muted_or_blocked(recipient: int, sender: int) -> Any:
    """SQL: the recipient mutes the sender in any way (unexpired), or a block stands between
    them either way."""
    now = utcnow()
    return or_(
        exists().where(
            Mute.account_id == recipient,
            Mute.target_account_id == sender,
            or_(Mute.expires_at.is_(None), Mute.expires_at > now),
        ),
        exists().where(
            or_(
                and_(Block.account_id == recipient, Block.target_account_id == sender),
                and_(Block.account_id == sender, Block.target_account_id == recipient),
            )
        ),
    )


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where and how one push goes: the subscription's endpoint, keys and encoding."""

    endpoint: str
    p256dh: str
    auth: str
    standard: bool


TITLES = {
    "mention": "{name} mentioned you",
    "status": "{name} just posted",
    "reblog": "{name} boosted your post",
    "follow": "{name} is now following you",
    "follow_request": "{name} has requested to follow you",
    "favourite": "{name} favourited your post",
    "poll": "A poll you voted in has ended",
    "update": "{name} edited a post",
    "admin.report": "{name} filed a report",
}


async def push_message(
    session: AsyncSession, subscription_id: int, notification_id: int
) -> tuple[PushTarget, dict[str, Any]] | None:
    """The subscription and the message to push for a notification (Mastodon's push payload:
    `notification_id`, `notification_type`, `title`, `body`, `icon`, `preferred_locale`),
    or None when nothing is to be pushed any more: the subscription is gone or its holder
    revoked, the notification can no longer be read (`get_notification`), or the recipient
    now mutes or blocks the sender."""
    found = await session.scalar(
        select(PushSubscription).where(PushSubscription.id == subscription_id, live_holder())
    )
    if found is None:
        return None
    try:
        note = await get_notification(session, found.account_id, notification_id)
    except NotFound:
        return None
    if await session.scalar(select(_muted_or_blocked(found.account_id, note.from_account_id))):
        return None
    if note.post_id is not None and not await load_posts(
        session, found.account_id, [note.post_id], context="notifications"
    ):
        return None  # one of the recipient's filters hides it in notifications
    sender = await session.get(Account, note.from_account_id)
    if sender is None:
        return None
    post = await session.get(Post, note.post_id) if note.post_id is not None else None
    locale = await session.scalar(select(User.locale).where(User.account_id == found.account_id))
    name = sender.display_name or sender.username
    body = (post.spoiler_text or post.text) if post is not None else sender.note
    if len(body) > BODY_CHARS:
        body = body[: BODY_CHARS - 1] + "…"
    message = {
        "notification_id": str(note.id),
        "notification_type": note.type,
        "preferred_locale": locale or "en",
        "icon": image_url(sender, "avatar"),
        "title": TITLES.get(note.type, "{name}").format(name=name),
        "body": body,
    }
    target = PushTarget(found.endpoint, found.key_p256dh, found.key_auth, found.standard)
    return target, message


async def forget_subscription(session: AsyncSession, subscription_id: int, endpoint: str) -> None:
    """Drop a subscription the push service says is gone (404 / 410), unless it was replaced
    by one with another endpoint in the meantime."""
    await session.execute(
        delete(PushSubscription).where(
            PushSubscription.id == subscription_id, PushSubscription.endpoint == endpoint
        )
    )
