"""E-mail confirmation for apps (Mastodon's `/api/v1/emails/...`): the one door a token of
an unconfirmed account passes (http/deps.py `confirming_caller`)."""

from __future__ import annotations

from fastapi import APIRouter

from agora.auth import email_confirmation
from agora.auth.email_confirmation import Awaiting
from agora.http.deps import SessionDep, confirming_caller
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body

router = APIRouter(prefix="/api/v1/emails")


class ResendForm(Params):
    email: str | None = None


@router.post("/confirmations", openapi_extra=openapi_body(ResendForm))
async def resend_confirmation(
    session: SessionDep,
    me: Awaiting = confirming_caller("write:accounts"),
    form: ResendForm = body(ResendForm),
) -> JSON:
    """Mail the confirmation link again (to a corrected address when `email` is given);
    403 once the address is confirmed."""
    await email_confirmation.resend_for(session, me, form.email)
    return JSON({})


@router.get("/check_confirmation")
async def check_confirmation(me: Awaiting = confirming_caller("read:accounts")) -> JSON:
    """Whether the caller's address is confirmed (true / false)."""
    return JSON(me.user.confirmed_at is not None)
