"""Web Push subscriptions (Mastodon's `/api/v1/push/subscription`, and the web app's browser
notifications): one per access token and one per web session, which alerts each wants and
from whom (`policy`), and what a push of a notification says.

Invariants:
- A subscription belongs to the token (or web session) that made it: another token of the
  same person neither sees nor changes it (404), as on Mastodon. A revoked token's or an
  expired session's subscription receives nothing; revoking deletes nothing else.
- Pushes are jobs (`web_push`, one per subscription) written by `create_notification` in the
  notification's own transaction (`enqueue_pushes`), only for subscriptions whose alert for
  that type is on and whose policy admits the sender. So a notification that rolls back
  pushes nothing, and one that commits is pushed at least once to each.
- What is pushed is decided again when the job runs (push_messages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Select, and_, bindparam, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import (
    AccessToken,
    Follow,
    PushSubscription,
    WebSession,
    utcnow,
)
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.reading.push_keys import b64url_decode
from agora.social.rules.errors import Invalid, NotFound

ALERTS = (
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "quote",
    "quoted_update",
    "admin.sign_up",
    "admin.report",
)
POLICIES = ("all", "followed", "follower", "none")
MAX_ENDPOINT_CHARS = 2048
PUSH_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class PushOwner:
    """Who holds a subscription: an account's access token, or its web session."""

    account_id: int
    token_id: int | None = None
    web_session_id: int | None = None

    def condition(self) -> Any:
        """SQL: the subscription held by this token or session."""
        if self.token_id is not None:
            return PushSubscription.token_id == self.token_id
        return and_(
            PushSubscription.web_session_id == self.web_session_id,
            PushSubscription.web_session_id.is_not(None),
        )


def _check_endpoint(endpoint: str) -> str:
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if (
        len(endpoint) > MAX_ENDPOINT_CHARS
        or parts.scheme not in ("https", "http")
        or not parts.hostname
    ):
        raise Invalid("Validation failed: Endpoint is not a valid URL")
    return endpoint


def _check_keys(p256dh: str, auth: str) -> tuple[str, str]:
    """The browser's public key must be a P-256 point, its auth secret 16 bytes (RFC 8291)."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        secret = b64url_decode(auth)
    except ValueError:
        raise Invalid("Validation failed: Keys are not valid Web Push keys") from None
    if len(point) != 65 or len(secret) != 16:
        raise Invalid("Validation failed: Keys are not valid Web Push keys")
    return p256dh.strip(), auth.strip()


def _check_policy(policy: str | None, default: str) -> str:
    if policy is None or policy == "":
        return default
    if policy not in POLICIES:
        raise Invalid(f"Validation failed: Policy must be one of {', '.join(POLICIES)}")
    return policy


def clean_alerts(given: dict[str, bool], base: dict[str, Any] | None = None) -> dict[str, bool]:
    """Every alert Agora knows, on or off: `given` over `base` (unknown names are ignored, as
    Mastodon ignores them)."""
    start = {name: bool((base or {}).get(name, False)) for name in ALERTS}
    return start | {name: value for name, value in given.items() if name in ALERTS}


async def subscribe(
    session: AsyncSession,
    owner: PushOwner,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    standard: bool,
    alerts: dict[str, bool],
    policy: str | None,
) -> PushSubscription:
    """Make the owner's subscription, replacing the one it had (as Mastodon does). Commits.
    Invalid (422) for an endpoint that is not an http(s) URL, keys that are not Web Push
    keys or an unknown policy; nothing changes then."""
    endpoint = _check_endpoint(endpoint)
    p256dh, auth = _check_keys(p256dh, auth)
    chosen = _check_policy(policy, "all")
    await session.execute(delete(PushSubscription).where(owner.condition()))
    found = PushSubscription(
        account_id=owner.account_id,
        token_id=owner.token_id,
        web_session_id=owner.web_session_id,
        endpoint=endpoint,
        key_p256dh=p256dh,
        key_auth=auth,
        standard=standard,
        alerts=clean_alerts(alerts),
        policy=chosen,
        created_at=utcnow(),
    )
    session.add(found)
    await session.commit()
    return found


async def get_subscription(session: AsyncSession, owner: PushOwner) -> PushSubscription:
    """The owner's subscription; NotFound when it has none."""
    found = await session.scalar(select(PushSubscription).where(owner.condition()))
    if found is None:
        raise NotFound()
    return found


async def update_subscription(
    session: AsyncSession, owner: PushOwner, *, alerts: dict[str, bool], policy: str | None
) -> PushSubscription:
    """Change the alerts given (the others stay) and the policy (when given). Commits.
    NotFound without a subscription, Invalid for an unknown policy (nothing changes)."""
    found = await get_subscription(session, owner)
    found.policy = _check_policy(policy, found.policy)
    found.alerts = clean_alerts(alerts, found.alerts)
    await session.commit()
    return found


async def unsubscribe(session: AsyncSession, owner: PushOwner) -> None:
    """Remove the owner's subscription, if any (Mastodon answers `{}` either way). Commits."""
    await session.execute(delete(PushSubscription).where(owner.condition()))
    await session.commit()


def live_holder() -> Any:
    """SQL: the subscription's token is not revoked, or its web session has not expired (the
    time read when the statement runs, so a statement using it may be built once)."""
    token_live = exists().where(
        AccessToken.id == PushSubscription.token_id, AccessToken.revoked_at.is_(None)
    )
    now = bindparam("now", callable_=utcnow, type_=WebSession.expires_at.type, unique=True)
    session_live = exists().where(
        WebSession.id == PushSubscription.web_session_id, WebSession.expires_at > now
    )
    return or_(token_live, session_live)


@cache
def _live_subscriptions() -> Select[Any]:
    """(id, alerts, policy) of the live subscriptions of the account `account`, built once
    (every notification asks it)."""
    return select(PushSubscription.id, PushSubscription.alerts, PushSubscription.policy).where(
        PushSubscription.account_id == bindparam("account", type_=PushSubscription.account_id.type),
        live_holder(),
    )


async def enqueue_pushes(
    session: AsyncSession, account_id: int, from_account_id: int, type: str, note_id: int
) -> None:
    """Write a `web_push` job for each of the recipient's live subscriptions whose alert for
    `type` is on and whose policy admits the sender, in the caller's transaction (the one
    that creates the notification)."""
    rows = await session.execute(_live_subscriptions(), {"account": account_id})
    wanted = [(id_, policy) for id_, alerts, policy in rows if (alerts or {}).get(type)]
    if not wanted:
        return
    relation = await _relation(session, account_id, from_account_id, {p for _, p in wanted})
    for subscription_id, policy in wanted:
        if relation.admits(policy):
            enqueue(
                session,
                JobKind.WEB_PUSH,
                {"subscription_id": subscription_id, "notification_id": note_id},
                max_attempts=PUSH_ATTEMPTS,
            )


@dataclass(frozen=True, slots=True)
class _Relation:
    followed: bool  # the recipient follows the sender
    follower: bool  # the sender follows the recipient

    def admits(self, policy: str) -> bool:
        """Whether a subscription with `policy` hears from this sender."""
        return {
            "all": True,
            "followed": self.followed,
            "follower": self.follower,
            "none": False,
        }.get(policy, False)


async def _relation(
    session: AsyncSession, recipient: int, sender: int, policies: set[str]
) -> _Relation:
    """What the policies in use need to know (no query when every one is `all` or `none`)."""
    if not policies & {"followed", "follower"}:
        return _Relation(False, False)
    follows = await session.execute(
        select(Follow.account_id).where(
            or_(
                and_(Follow.account_id == recipient, Follow.target_account_id == sender),
                and_(Follow.account_id == sender, Follow.target_account_id == recipient),
            )
        )
    )
    who = set(follows.scalars())
    return _Relation(followed=recipient in who, follower=sender in who)
