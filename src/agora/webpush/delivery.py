"""Delivering one notification to one push subscription (the `web_push` job).

What to push is the service layer's (social/reading/push_messages.py, decided when the job
runs); this door only encrypts it for the browser (RFC 8291 `aes128gcm` for a `standard`
subscription, the older `aesgcm` draft otherwise, both by pywebpush), signs the request with
the server's VAPID key (RFC 8292: `vapid t=…, k=…` for `aes128gcm`, `WebPush` with
`Crypto-Key: p256ecdsa=…` for `aesgcm`) and POSTs it through federation's outgoing client,
whose guards apply to push endpoints too: a private, loopback or link-local address is
refused unless `AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES` is on, since the endpoint is a URL
a client chose.

The request runs in the job's slow phase, outside any transaction; a 404 or 410 (the
subscription has expired at the push service) drops the subscription in the job's own
transaction; any other failure raises, so the job is retried with backoff
(`PUSH_ATTEMPTS` attempts).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from py_vapid import Vapid01, Vapid02
from pywebpush import WebPusher
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.federation.client import post_bytes
from agora.jobs.job_kinds import WebPushJob
from agora.social.reading.push_keys import VapidKeys, vapid_keys
from agora.social.reading.push_messages import PushTarget, forget_subscription, push_message

GONE = (404, 410)
TTL_SECONDS = 48 * 3600  # how long a push service keeps a push for an offline device
JWT_SECONDS = 12 * 3600


class PushFailed(Exception):
    """The push service refused a push for a reason that may pass (the job retries)."""


def encrypted_request(
    target: PushTarget, message: dict[str, Any], keys: VapidKeys
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one push: `message` as JSON, encrypted for the subscription's
    keys, and the VAPID authorisation for the endpoint's origin."""
    encoding = "aes128gcm" if target.standard else "aesgcm"
    pusher = WebPusher(
        {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
    )
    encoded = pusher.encode(orjson.dumps(message), encoding)
    parts = urlsplit(target.endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + JWT_SECONDS,
        "sub": f"mailto:{get_settings().contact_email}",
    }
    headers = {
        "Content-Encoding": encoding,
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_SECONDS),
        "Urgency": "normal",
    }
    if target.standard:
        headers |= Vapid02.from_raw(keys.private_key.encode()).sign(claims)
    else:
        signer = Vapid01.from_raw(keys.private_key.encode())
        dh = "dh=" + encoded["crypto_key"].decode()
        headers |= signer.sign(claims, crypto_key=dh)
        headers["Encryption"] = "salt=" + encoded["salt"].decode()
    return bytes(encoded["body"]), headers


async def send_push(db: Database, payload: WebPushJob) -> str | None:
    """Job, slow phase: push the notification; the endpoint when the push service says the
    subscription is gone (to forget it), None when sent or when there is nothing to push."""
    async with db.session() as session:
        found = await push_message(session, payload["subscription_id"], payload["notification_id"])
    if found is None:
        return None
    target, message = found
    body, headers = encrypted_request(target, message, await vapid_keys(db))
    status = await post_bytes(target.endpoint, headers, body)
    if status in GONE:
        return target.endpoint
    if not 200 <= status < 300:
        raise PushFailed(f"the push service answered {status}")
    return None


async def push_sent(session: AsyncSession, payload: WebPushJob, gone: str | None) -> None:
    """Job, in its transaction: forget a subscription its push service says is gone."""
    if gone is not None:
        await forget_subscription(session, payload["subscription_id"], gone)
