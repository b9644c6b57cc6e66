"""Settings in the browser (`/settings/...`): profile, password, authorised apps, and the
data-reuse choices with where the person's data went. Each form is one service call."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.auth.authorised_apps import authorised_apps, revoke_app
from agora.auth.web_sessions import change_password
from agora.data import consent, transparency
from agora.data.consent import Category
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.media.profile_images import update_profile_and_images
from agora.social.rules.errors import Invalid
from agora.web.media_forms import read_uploads, uploaded_file
from agora.web.post_actions import post_id_of
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, field

router = web_router()
CHOICES = {"allow": True, "deny": False, "unset": None}
CATEGORY_TEXT = {
    Category.GENAI_TEXT: "Training generative AI on my posts' text",
    Category.GENAI_IMAGES: "Training generative AI on my images",
    Category.BULK_DATASET: "Bulk datasets (research and archives of many accounts)",
    Category.ARCHIVE: "Public web archives",
    Category.BRIDGING: "Bridging to other networks",
    Category.ASSISTANT: "The assistant reading my posts to answer others",
}


def _page(request: Request, template: str, section: str, **context: Any) -> Response:
    status = 422 if context.get("error") else 200
    context = {"nav": "settings", "section": section, **context}
    return render(request, template, context, status=status)


def _saved(path: str) -> Response:
    return RedirectResponse(f"{path}?saved=1", status_code=303)


@router.get("/settings")
async def settings_start() -> Response:
    """The first settings section."""
    return RedirectResponse("/settings/profile", status_code=303)


@router.get("/settings/profile")
async def profile_page(request: Request, me: Me) -> Response:
    """Display name, bio and whether follows are reviewed."""
    return _page(request, "settings_profile.html", "profile", account=me.account)


@router.post("/settings/profile")
async def save_profile(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Save the profile and any new avatar or header (the services validate lengths and
    images, and change nothing when one is refused; unlocking accepts pending requests)."""
    changes = {
        "display_name": field(form, "display_name").strip(),
        "note": field(form, "note"),
        "locked": flag(field(form, "locked")),
    }
    images = await _images(request, me, form)
    try:
        await update_profile_and_images(session, me.account, changes, **images)
    except Invalid as exc:  # nothing is saved; the form shows what was typed
        await session.rollback()
        await session.refresh(me.account)
        return _page(
            request,
            "settings_profile.html",
            "profile",
            account=me.account,
            typed=changes,
            error=exc.message,
        )
    return _saved("/settings/profile")


async def _images(request: Request, me: Me, form: Form) -> dict[str, bytes]:
    """The avatar and header files sent, by kind (none for an empty file field)."""
    sent = {kind: f for kind in ("avatar", "header") if (f := uploaded_file(form, kind))}
    files = await read_uploads(request, me.account.id, list(sent.values()))
    return dict(zip(sent, files, strict=True))


@router.get("/settings/password")
async def password_page(request: Request, me: Me) -> Response:
    """The change-password form."""
    return _page(request, "settings_password.html", "password")


@router.post("/settings/password")
async def save_password(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Change the password; other browsers are signed out."""
    if field(form, "new_password") != field(form, "confirm"):
        return _page(request, "settings_password.html", "password", error="The passwords differ")
    try:
        await change_password(session, me, field(form, "current"), field(form, "new_password"))
    except Invalid as exc:
        return _page(request, "settings_password.html", "password", error=exc.message)
    return _saved("/settings/password")


@router.get("/settings/apps")
async def apps_page(request: Request, session: SessionDep, me: Me) -> Response:
    """Applications that can use the account, each with a revoke button."""
    apps = await authorised_apps(session, me.account.id)
    return _page(request, "settings_apps.html", "apps", apps=apps)


@router.post("/settings/apps/{app_id}/revoke")
async def revoke(
    request: Request, session: SessionDep, me: Me, form: Form, app_id: str
) -> Response:
    """Revoke every token an application holds for the account."""
    await revoke_app(session, me.account.id, post_id_of(app_id))
    return _saved("/settings/apps")


@router.get("/settings/data")
async def data_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The data-reuse choices (docs/DATA.md) and the exports that included the person."""
    return _page(
        request,
        "settings_data.html",
        "data",
        categories=[(c, CATEGORY_TEXT[c], consent.intent(me.account, c)) for c in Category],
        effective=consent.effective(me.account),
        defaults=consent.DEFAULT_ALLOW,
        exports=await transparency.exports_including(session, me.account.id),
    )


@router.post("/settings/data")
async def save_data(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Record the choices (each real change goes into the consent log)."""
    changes = {}
    for category in Category:
        raw = field(form, category.value, "unset")
        if raw not in CHOICES:
            raise Invalid(f"Unknown choice for {category.value}")
        changes[category] = CHOICES[raw]
    await consent.set_intents(session, me.account, changes)
    return _saved("/settings/data")
