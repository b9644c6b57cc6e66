"""The web pages of e-mail links (`/auth/confirmation...`, `/auth/password...`) and of
changing one's address (`/settings/email`). Each form is one call into
auth/email_confirmation.py or auth/password_reset.py; the paths are Mastodon's."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.auth import email_confirmation, password_reset
from agora.http.deps import SessionDep
from agora.mail.smtp import mail_configured
from agora.social.rules.errors import Invalid
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, Viewer, field

router = web_router()


def _message(request: Request, title: str, message: str, status: int = 200) -> Response:
    return render(request, "auth_message.html", {"title": title, "message": message}, status)


@router.get("/auth/confirmation")
async def confirm_page(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """Open a confirmation link: the address is confirmed (or replaces the old one)."""
    token = request.query_params.get("confirmation_token")
    try:
        account = await email_confirmation.confirm(session, token)
    except Invalid as exc:
        return render(request, "confirmation_new.html", {"error": exc.message}, status=422)
    message = f"The e-mail address of @{account.username} is confirmed."
    return _message(request, "Address confirmed", message)


@router.get("/auth/confirmation/new")
async def confirmation_form(request: Request, viewer: Viewer) -> Response:
    """Ask for the confirmation link again."""
    return render(request, "confirmation_new.html", {})


@router.post("/auth/confirmation/new")
async def resend_confirmation(request: Request, session: SessionDep, form: Form) -> Response:
    """Mail a new link to an unconfirmed address (the answer is the same for any address)."""
    await email_confirmation.resend_to_address(session, field(form, "email"))
    message = (
        "If this address belongs to an account that is not confirmed yet, a new link is on "
        "its way. Links work once and expire."
    )
    return _message(request, "Check your inbox", message)


@router.get("/auth/password/new")
async def forgot_form(request: Request, viewer: Viewer) -> Response:
    """The "forgot your password?" form (or, with no mail server, whom to ask)."""
    return render(request, "password_forgot.html", {"mail": mail_configured()})


@router.post("/auth/password/new")
async def forgot(request: Request, session: SessionDep, form: Form) -> Response:
    """Mail a reset link (the answer is the same for any address)."""
    await password_reset.request_reset(session, field(form, "email"))
    message = (
        "If this address belongs to an account, a link to choose a new password is on its "
        "way. It works once and expires."
    )
    return _message(request, "Check your inbox", message)


@router.get("/auth/password/edit")
async def reset_form(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """Choose a new password, when the link still works."""
    token = request.query_params.get("reset_password_token", "")
    if not await password_reset.link_works(session, token):
        return _message(request, "Link expired", password_reset.INVALID_LINK, status=422)
    return render(request, "password_reset.html", {"token": token})


@router.post("/auth/password/edit")
async def reset(request: Request, session: SessionDep, form: Form) -> Response:
    """Set the new password: the link is used up and the account is signed out everywhere."""
    token, password = field(form, "token"), field(form, "password")
    try:
        if password != field(form, "confirm"):
            raise Invalid("The two passwords differ")
        await password_reset.reset_password(session, token, password)
    except Invalid as exc:
        context = {"token": token, "error": exc.message}
        return render(request, "password_reset.html", context, status=422)
    return RedirectResponse("/auth/sign_in?reset=1", status_code=303)


@router.get("/settings/email")
async def email_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The account's address, and the form to change it."""
    context = {"nav": "settings", "section": "email", "email": await _address(session, me)}
    return render(request, "settings_email.html", context)


@router.post("/settings/email")
async def change_email(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Change the address (with the password); with a mail server, once the link sent to
    the new address is opened."""
    new = field(form, "email").strip()
    try:
        mailed = await email_confirmation.change_email(
            session, me.account, field(form, "password"), new
        )
    except Invalid as exc:
        context = {
            "nav": "settings",
            "section": "email",
            "email": await _address(session, me),
            "typed": new,
            "error": exc.message,
        }
        return render(request, "settings_email.html", context, status=422)
    return RedirectResponse(f"/settings/email?{'sent' if mailed else 'saved'}=1", status_code=303)


async def _address(session: SessionDep, me: Me) -> str:
    return await email_confirmation.address_of(session, me.account.id)
