"""Helpers of the web-app tests: sign a browser-like client in through the real forms."""

from __future__ import annotations

import re

import httpx

PASSWORD = "correct horse battery"  # make_person's
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')


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


HX = {"HX-Request": "true"}


async def api_post(client: httpx.AsyncClient, person, text: str, **extra) -> str:  # type: ignore[no-untyped-def]
    """Post through the API as `person`; returns the new post's id."""
    response = await client.post(
        "/api/v1/statuses", json={"status": text, **extra}, headers=person.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]
