"""The admin console's server pages: the dashboard (what needs an admin now, and sign-ups,
active people, posts and the job queue over 30 days as charts with their tables), the
server settings that change at run time, and the job queue (counts per kind, dead letters
with their errors, retry or discard one).

Admins only (`Admin`: a 404 for anyone else); every form is CSRF-checked (`Form`); each
action is one service call (social/instance/), which writes the moderation log."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.instance import activity_stats, dead_letters, instance_settings
from agora.social.people import moderation
from agora.social.rules.errors import Invalid
from agora.web.admin_access import Admin
from agora.web.charts import bar_chart
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, field

router = web_router()


@router.get("/admin")
async def dashboard(request: Request, session: SessionDep, me: Admin) -> Response:
    """What needs an admin now, the charts, and the latest moderation log."""
    series = await activity_stats.dashboard(session)
    context = {
        "section": "dashboard",
        "glance": await activity_stats.at_a_glance(session),
        "charts": [(s, bar_chart(s.key, s.title, s.description, s.days, s.values)) for s in series],
        "days": series[0].days if series else [],
        "series": series,
        "log": await moderation.recent_log(session, 20),
    }
    return render(request, "admin_dashboard.html", context)


async def _settings_page(
    request: Request, session: AsyncSession, error: str | None = None
) -> Response:
    context = {
        "section": "settings",
        "current": await instance_settings.effective(session),
        "registration_modes": instance_settings.REGISTRATIONS,
        "error": error,
    }
    return render(request, "admin_settings.html", context, status=422 if error else 200)


@router.get("/admin/settings")
async def settings_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """The settings an admin may change without restarting the server."""
    return await _settings_page(request, session)


@router.post("/admin/settings")
async def save_settings(request: Request, session: SessionDep, me: Admin, form: Form) -> Response:
    """Save the settings form (every field is sent; unchanged ones change nothing)."""
    given = instance_settings.SettingsInput(
        registrations=field(form, "registrations"),
        instance_description=field(form, "instance_description"),
        instance_extended_description=field(form, "instance_extended_description"),
        instance_rules=field(form, "instance_rules").splitlines(),
        instance_privacy_policy=field(form, "instance_privacy_policy"),
        instance_terms_of_service=field(form, "instance_terms_of_service"),
        domain_blocks_shown=field(form, "domain_blocks_shown") or None,
        ai_training_default=flag(field(form, "ai_training_default")),
        search_indexing=flag(field(form, "search_indexing")),
        tdm_reservation=flag(field(form, "tdm_reservation")),
        trends_auto_approve=flag(field(form, "trends_auto_approve")),
    )
    try:
        await instance_settings.change(session, given, by=me.account)
    except Invalid as exc:
        await session.rollback()
        await session.refresh(me.account)
        return await _settings_page(request, session, exc.message)
    return RedirectResponse("/admin/settings?done=settings", status_code=303)


@router.get("/admin/jobs")
async def jobs_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """Jobs per kind and state, and the latest dead letters."""
    context = {
        "section": "jobs",
        "counts": await dead_letters.counts_by_kind(session),
        "dead": await dead_letters.dead_letters(session),
    }
    return render(request, "admin_jobs.html", context)


@router.post("/admin/jobs/{job_id}/retry")
async def retry_job(session: SessionDep, me: Admin, form: Form, job_id: str) -> Response:
    """Put a dead letter back in the queue."""
    await dead_letters.retry(session, id_or_404(job_id), by=me.account)
    return RedirectResponse("/admin/jobs?done=retried", status_code=303)


@router.post("/admin/jobs/{job_id}/discard")
async def discard_job(session: SessionDep, me: Admin, form: Form, job_id: str) -> Response:
    """Delete a dead letter for good."""
    await dead_letters.discard(session, id_or_404(job_id), by=me.account)
    return RedirectResponse("/admin/jobs?done=discarded", status_code=303)
