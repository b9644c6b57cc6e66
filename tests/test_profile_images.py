"""Avatars and headers: `PATCH /api/v1/accounts/update_credentials` with multipart `avatar` /
`header` files and the web's profile settings form. Images are checked like media uploads
(422 and nothing changes for a bad one), cropped to 400x400 and 1500x500, stripped of
metadata, served publicly under /media/profile/ and named in the Account entity."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from agora.config import get_settings
from agora.db.models import Account
from helpers import web_sign_in


@pytest.fixture(autouse=True)
def media_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    return tmp_path / "media"


def photo(size: tuple[int, int] = (900, 600)) -> bytes:
    """A JPEG with GPS coordinates in its EXIF."""
    image = Image.new("RGB", size, (20, 120, 220))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def local(url: str) -> str:
    return url.removeprefix(get_settings().base_url)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_api_avatar_and_header(client, make_person, media_dir) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    before = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert before["avatar"].endswith("/static/avatar.png")
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        data={"display_name": "Alice"},
        files={
            "avatar": ("me.jpg", photo(), "image/jpeg"),
            "header": ("h.jpg", photo(), "image/jpeg"),
        },
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["display_name"] == "Alice" and me["avatar"] == me["avatar_static"]
    assert "/media/profile/" in me["avatar"] and "/media/profile/" in me["header_static"]
    for key, size in (("avatar", (400, 400)), ("header", (1500, 500))):
        fetched = await client.get(local(me[key]))  # no Authorization: public, as on Mastodon
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
        assert "public" in fetched.headers["cache-control"]
        image = Image.open(io.BytesIO(fetched.content))
        assert image.size == size and not image.getexif()
    shown = (await client.get(f"/api/v1/accounts/{alice.id}")).json()
    assert shown["avatar"] == me["avatar"]
    again = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        files={"avatar": ("new.png", photo((50, 80)), "image/png")},
    )
    assert again.status_code == 200 and again.json()["avatar"] != me["avatar"]
    assert again.json()["header"] == me["header"]
    assert (await client.get(local(me["avatar"]))).status_code == 404  # the old one is gone
    assert len(files(media_dir)) == 2


async def test_api_bad_images_change_nothing(client, make_person, media_dir, db) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    cases = [
        b"not an image",
        photo()[:400],  # truncated
        b"",
    ]
    for data in cases:
        response = await client.patch(
            "/api/v1/accounts/update_credentials",
            headers=alice.headers,
            data={"display_name": "Changed"},
            files={"avatar": ("x.jpg", data, "image/jpeg")},
        )
        assert response.status_code == 422, data[:20]
        assert "error" in response.json()
    get_settings().media_max_pixels, limit = 100, get_settings().media_max_pixels
    try:
        too_big = await client.patch(
            "/api/v1/accounts/update_credentials",
            headers=alice.headers,
            files={"header": ("x.jpg", photo(), "image/jpeg")},
        )
    finally:
        get_settings().media_max_pixels = limit
    assert too_big.status_code == 422 and "pixels" in too_big.json()["error"]
    async with db.session() as session:
        row = await session.scalar(select(Account).where(Account.username == "alice"))
    assert row.display_name == "" and row.avatar_file is None and row.header_file is None
    assert files(media_dir) == []
    assert (await client.get(f"/media/profile/{alice.id}/nothing.jpg")).status_code == 404
    assert (await client.get("/media/profile/x/nothing.jpg")).status_code == 404


async def test_suspended_accounts_images_are_not_served(client, make_person, db) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    me = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        files={"avatar": ("me.jpg", photo(), "image/jpeg")},
    )
    url = local(me.json()["avatar"])
    assert (await client.get(url)).status_code == 200
    from agora.social.people.moderation import take_action

    async with db.session(write=True) as session:
        await take_action(session, alice.id, "suspend", by=None)
    assert (await client.get(url)).status_code == 404


async def test_web_profile_form_uploads_and_refuses(client, make_person, media_dir, db) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    page = await client.get("/settings/profile")
    assert 'type="file"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert "/static/avatar.png" in page.text
    bad = await client.post(
        "/settings/profile",
        data={"csrf": csrf, "display_name": "Typed", "note": ""},
        files={"avatar": ("x.png", b"GIF89a broken", "image/gif")},
    )
    assert bad.status_code == 422 and 'class="error"' in bad.text and 'value="Typed"' in bad.text
    async with db.session() as session:
        row = await session.get(Account, alice.id)
    assert row.display_name == "" and row.avatar_file is None and files(media_dir) == []
    no_csrf = await client.post(
        "/settings/profile",
        data={"display_name": "x"},
        files={"avatar": ("a.jpg", photo(), "image/jpeg")},
    )
    assert no_csrf.status_code == 403 and files(media_dir) == []
    saved = await client.post(
        "/settings/profile",
        data={"csrf": csrf, "display_name": "Alice", "note": "hi"},
        files={
            "avatar": ("a.jpg", photo(), "image/jpeg"),
            "header": ("", b"", "application/octet-stream"),
        },
    )
    assert saved.status_code == 303
    api = (await client.get(f"/api/v1/accounts/{alice.id}")).json()
    assert "/media/profile/" in api["avatar"] and api["header"].endswith("/static/header.png")
    assert local(api["avatar"]) in (await client.get("/@alice")).text
    assert local(api["avatar"]) in (await client.get("/settings/profile")).text


async def test_delete_avatar_and_header(client, make_person, media_dir) -> None:  # type: ignore[no-untyped-def]
    """Mastodon's DELETE /api/v1/profile/avatar and /header: the default picture again, the
    file gone; the other image stays; again (nothing left) is fine; no token: 401."""
    alice = await make_person("alice")
    me = (
        await client.patch(
            "/api/v1/accounts/update_credentials",
            headers=alice.headers,
            files={
                "avatar": ("a.jpg", photo(), "image/jpeg"),
                "header": ("h.jpg", photo(), "image/jpeg"),
            },
        )
    ).json()
    assert (await client.delete("/api/v1/profile/avatar")).status_code == 401
    r = await client.delete("/api/v1/profile/avatar", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["avatar"].endswith("/static/avatar.png") and r.json()["header"] == me["header"]
    assert (await client.get(local(me["avatar"]))).status_code == 404
    assert len(files(media_dir)) == 1
    again = await client.delete("/api/v1/profile/avatar", headers=alice.headers)
    assert again.status_code == 200 and again.json()["avatar"] == r.json()["avatar"]
    r = await client.delete("/api/v1/profile/header", headers=alice.headers)
    assert r.json()["header"].endswith("/static/header.png") and files(media_dir) == []
