"""Two-factor sign-in in the settings (`/settings/two_factor`): set up with a QR code,
recovery codes shown once, turn off or renew the codes with the password and a code. Each
form is one call into auth/two_factor.py."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.auth import two_factor
from agora.http.deps import SessionDep
from agora.social.rules.errors import Invalid
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, field

router = web_router()
PAGE = "/settings/two_factor"


async def _page(
    request: Request, session: SessionDep, me: Me, status: int = 200, **context: Any
) -> Response:
    account_id = me.account.id
    context = {
        "nav": "settings",
        "section": "two_factor",
        "on": await two_factor.is_on(session, account_id),
        "setup": await two_factor.pending_setup(session, me.account),
        "codes_left": await two_factor.recovery_codes_left(session, account_id),
        **context,
    }
    return render(request, "settings_two_factor.html", context, status=status)


@router.get(PAGE)
async def two_factor_page(request: Request, session: SessionDep, me: Me) -> Response:
    """Whether two-factor sign-in is on, and the forms that change it."""
    return await _page(request, session, me)


@router.post(f"{PAGE}/setup")
async def begin(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Make a new secret to scan (in force once a code from it is entered)."""
    try:
        await two_factor.begin_setup(session, me.account)
    except Invalid as exc:
        return await _page(request, session, me, 422, error=exc.message)
    return RedirectResponse(PAGE, status_code=303)


@router.post(f"{PAGE}/enable")
async def enable(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Turn it on with a code from the app; the recovery codes are shown, once."""
    try:
        codes = await two_factor.enable(session, me.account, field(form, "code"))
    except Invalid as exc:
        return await _page(request, session, me, 422, error=exc.message)
    return await _page(request, session, me, codes=codes)


@router.post(f"{PAGE}/recovery_codes")
async def renew(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """New recovery codes (the old ones stop working), with the password and a code."""
    try:
        codes = await two_factor.new_recovery_codes(
            session, me.account, field(form, "password"), field(form, "code")
        )
    except Invalid as exc:
        return await _page(request, session, me, 422, error=exc.message)
    return await _page(request, session, me, codes=codes)


@router.post(f"{PAGE}/disable")
async def disable(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Turn it off, with the password and a code."""
    try:
        await two_factor.disable(session, me.account, field(form, "password"), field(form, "code"))
    except Invalid as exc:
        return await _page(request, session, me, 422, error=exc.message)
    return RedirectResponse(f"{PAGE}?saved=1", status_code=303)
