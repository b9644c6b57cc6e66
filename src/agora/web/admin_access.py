"""Who may open the admin console (`/admin/...`): a signed-in person with the admin role.
Anyone else, signed in or not, gets the ordinary 404 page on every console page and action,
so the console's pages do not show that they exist. `Admin` is the dependency every console
route takes first (before its CSRF-checked `Form`), so a refusal never reads a form."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from agora.auth.web_sessions import SignedIn
from agora.http.deps import SessionDep
from agora.social.people import moderation
from agora.social.rules.errors import NotFound
from agora.web.session import Viewer

# The console's sections: (path, label, nav key), in the order of its navigation.
SECTIONS = (
    ("/admin", "Dashboard", "dashboard"),
    ("/admin/reports", "Reports", "reports"),
    ("/admin/accounts", "Accounts", "accounts"),
    ("/admin/domain_blocks", "Blocked servers", "domain_blocks"),
    ("/admin/trends", "Trends", "trends"),
    ("/admin/emoji", "Custom emoji", "emoji"),
    ("/admin/settings", "Server settings", "settings"),
    ("/admin/announcements", "Announcements", "announcements"),
    ("/admin/jobs", "Job queue", "jobs"),
)

# What a console action redirects with (`?done=<key>`): the page says it, never echoing a URL.
DONE = {
    "resolved": "The report is resolved.",
    "reopened": "The report is open again.",
    "assigned": "The report is assigned to you.",
    "unassigned": "The report is unassigned.",
    "none": "The warning is recorded.",
    "silence": "The account is silenced.",
    "suspend": "The account is suspended.",
    "unsilence": "The account is no longer silenced.",
    "unsuspend": "The account is no longer suspended.",
    "approve": "The sign-up is approved.",
    "reject": "The sign-up is turned down; the account is being deleted.",
    "delete": "The account is being deleted.",
    "settings": "The settings are saved.",
    "emoji_added": "The emoji is added.",
    "emoji_disabled": "The emoji is disabled.",
    "emoji_enabled": "The emoji is enabled.",
    "emoji_removed": "The emoji is removed.",
    "announced": "The announcement is published.",
    "announcement_deleted": "The announcement is deleted.",
    "trend_approved": "The trend is approved: it is shown now.",
    "trend_rejected": "The trend is rejected: it is never shown.",
    "retried": "The job is back in the queue.",
    "discarded": "The job is discarded.",
}


async def admin_viewer(session: SessionDep, viewer: Viewer) -> SignedIn:
    """The signed-in admin; NotFound (the 404 page) for anyone else."""
    if viewer is None or not await moderation.is_admin(session, viewer.account.id):
        raise NotFound()
    return viewer


Admin = Annotated[SignedIn, Depends(admin_viewer)]
