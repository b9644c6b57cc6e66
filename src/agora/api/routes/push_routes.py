"""Web Push subscriptions: /api/v1/push/subscription (one per access token, as on Mastodon).
The pushes themselves are jobs (webpush/delivery.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from agora.api.entities import push_subscription_json
from agora.auth.oauth import Credentials
from agora.http.deps import SessionDep, app_caller
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import Params, body, flag, openapi_body
from agora.social.reading import push_subscriptions as push
from agora.social.reading.push_keys import vapid_public_key

router = APIRouter(prefix="/api/v1/push")


class PushKeys(Params):
    p256dh: str = Field(default="", max_length=200)
    auth: str = Field(default="", max_length=100)


class PushEndpoint(Params):
    endpoint: str = Field(default="", max_length=push.MAX_ENDPOINT_CHARS)
    keys: PushKeys = Field(default_factory=PushKeys)
    standard: Any = False


class PushData(Params):
    alerts: dict[str, Any] = Field(default_factory=dict)
    policy: str | None = None


class UpdateForm(Params):
    """`data[alerts][<type>]`, `data[policy]` (or `policy`, as Mastodon.py sends it)."""

    data: PushData = Field(default_factory=PushData)
    policy: str | None = None

    def chosen_policy(self) -> str | None:
        """`data[policy]`, else `policy`."""
        return self.data.policy if self.data.policy is not None else self.policy


class SubscribeForm(UpdateForm):
    """`subscription[endpoint]`, `subscription[keys][p256dh]`, `subscription[keys][auth]`,
    `subscription[standard]` (true: RFC 8291 `aes128gcm`), and the alerts and policy."""

    subscription: PushEndpoint = Field(default_factory=PushEndpoint)


def _owner(creds: Credentials) -> push.PushOwner:
    if creds.account is None:
        raise ApiError(422, "This method requires an authenticated user")
    return push.PushOwner(account_id=creds.account.id, token_id=creds.token_id)


def _alerts(data: PushData) -> dict[str, bool]:
    return {name: flag(value) for name, value in data.alerts.items()}


async def _entity(request: Request, found: Any) -> JSON:
    return JSON(push_subscription_json(found, await vapid_public_key(request.app.state.db)))


@router.post("/subscription", openapi_extra=openapi_body(SubscribeForm))
async def subscribe(
    request: Request,
    session: SessionDep,
    creds: Credentials = app_caller("push"),
    form: SubscribeForm = body(SubscribeForm),
) -> JSON:
    found = await push.subscribe(
        session,
        _owner(creds),
        endpoint=form.subscription.endpoint,
        p256dh=form.subscription.keys.p256dh,
        auth=form.subscription.keys.auth,
        standard=flag(form.subscription.standard),
        alerts=_alerts(form.data),
        policy=form.chosen_policy(),
    )
    return await _entity(request, found)


@router.get("/subscription")
async def show(
    request: Request, session: SessionDep, creds: Credentials = app_caller("push")
) -> JSON:
    return await _entity(request, await push.get_subscription(session, _owner(creds)))


@router.put("/subscription", openapi_extra=openapi_body(UpdateForm))
async def update(
    request: Request,
    session: SessionDep,
    creds: Credentials = app_caller("push"),
    form: UpdateForm = body(UpdateForm),
) -> JSON:
    found = await push.update_subscription(
        session, _owner(creds), alerts=_alerts(form.data), policy=form.chosen_policy()
    )
    return await _entity(request, found)


@router.delete("/subscription")
async def remove(session: SessionDep, creds: Credentials = app_caller("push")) -> JSON:
    await push.unsubscribe(session, _owner(creds))
    return JSON({})
