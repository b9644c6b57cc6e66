"""The tests' shared helpers: posting, uploading an image, following and boosting through the
API, making an admin, signing a browser-like client in through the real web forms.

Each helper asserts that its request succeeded (a helper is set-up, not the thing tested), so
a test checks what it claims and not its preparation; a test about a refused request makes
that request itself. People come from conftest's `make_person` (a `Person`: id, username,
token, headers).
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import httpx
from sqlalchemy import select, update

from agora.db.models import Job, User

PASSWORD = "correct horse battery"  # make_person's
ADMIN_SCOPES = "read write follow push admin:read admin:write"
HX = {"HX-Request": "true"}
# The PostgreSQL pass of `make test`, where slow tests (ffmpeg, browsers, servers) are skipped.
ON_POSTGRES = os.environ.get("AGORA_TEST_DATABASE", "sqlite") == "postgresql"
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')


# --- the API ----------------------------------------------------------------------------


async def post_status(
    client: httpx.AsyncClient,
    person: Any,
    text: str | None = None,
    *,
    as_json: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """Post as `person` (POST /api/v1/statuses); the Status entity. `text` is the `status`
    field; `fields` are any others (`visibility`, `in_reply_to_id`, `spoiler_text`,
    `media_ids[]`…), or `status=` itself. Form-encoded, as most clients send it; `as_json`
    for a JSON body (nested fields such as `poll={...}`)."""
    body = fields if text is None else {"status": text, **fields}
    sent = {"json": body} if as_json else {"data": body}
    response = await client.post("/api/v1/statuses", headers=person.headers, **sent)
    assert response.status_code == 200, response.text
    return response.json()


async def post_status_id(
    client: httpx.AsyncClient,
    person: Any,
    text: str | None = None,
    *,
    as_json: bool = False,
    **fields: Any,
) -> str:
    """`post_status`, returning only the new post's id."""
    return (await post_status(client, person, text, as_json=as_json, **fields))["id"]


async def upload_image(
    client: httpx.AsyncClient, person: Any, colour: tuple[int, int, int] = (200, 30, 30)
) -> str:
    """Upload an 8x8 PNG of one `colour` as `person` (POST /api/v2/media); the media id."""
    import io

    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(image, "PNG")
    uploaded = await client.post(
        "/api/v2/media",
        headers=person.headers,
        files={"file": ("a.png", image.getvalue(), "image/png")},
    )
    assert uploaded.status_code in (200, 202), uploaded.text
    return str(uploaded.json()["id"])


async def follow(client: httpx.AsyncClient, follower: Any, target: Any) -> dict[str, Any]:
    """`follower` follows `target` (a request if `target` is locked); the Relationship."""
    response = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=follower.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def boost(client: httpx.AsyncClient, person: Any, post_id: str) -> dict[str, Any]:
    """`person` boosts the post `post_id`; the boost's Status entity."""
    response = await client.post(f"/api/v1/statuses/{post_id}/reblog", headers=person.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def make_admin(
    db: Any, make_person: Any, name: str = "moderator", scopes: str = ADMIN_SCOPES
) -> Any:
    """A person with the admin role and a token with `scopes` (admin scopes by default)."""
    person = await make_person(name, scopes=scopes)
    async with db.session(write=True) as session:
        await session.execute(
            update(User).where(User.account_id == person.id).values(is_admin=True)
        )
        await session.commit()
    return person


# --- the web app ------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF_RE.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def web_sign_in(client: httpx.AsyncClient, login: str, password: str = PASSWORD) -> str:
    """Sign in through /auth/sign_in; returns the session's CSRF token."""
    page = await client.get("/auth/sign_in")
    response = await client.post(
        "/auth/sign_in",
        data={"csrf": csrf_of(page.text), "username": login, "password": password},
    )
    assert response.status_code == 303, response.text
    home = await client.get("/home")
    assert home.status_code == 200
    return csrf_of(home.text)


def post_ids(html: str) -> list[int]:
    """Ids of the posts on a page, in order (each article carries `data-id`)."""
    return [
        int(i)
        for i in re.findall(r'<article class="post card" id="post-\d+" data-id="(\d+)"', html)
    ]


def ffmpeg(*args: str) -> None:
    """Run Debian's ffmpeg (make test installs it) to make a test's media file."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(command, check=True, timeout=60)


# --- the job queue --------------------------------------------------------------------------


async def jobs_of_kind(db: Any, kind: str) -> list[Job]:
    """The jobs of a kind in the queue (any state), oldest first."""
    async with db.session() as session:
        found = await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))
        return list(found.all())
