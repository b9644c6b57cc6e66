"""Media: uploads checked and cleaned with Pillow, alt text and focus, attaching to posts,
files served only to whoever may see them, and clean-up jobs."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import blurhash
import httpx
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import Job, MediaAttachment, utcnow


@pytest.fixture(autouse=True)
def media_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test stores its files in a directory of its own."""
    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    return tmp_path / "media"


def jpeg_with_gps(size: tuple[int, int] = (120, 80), orientation: int = 6) -> bytes:
    """A JPEG with an EXIF orientation and GPS coordinates."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1] // 2))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"secret comment")
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (64, 48), alpha: bool = False) -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", size, (10, 200, 10, 128) if alpha else (9, 9, 9))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at home, 12 Main Street")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp_bytes(size: tuple[int, int] = (50, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 10, 200)).save(out, "WEBP")
    return out.getvalue()


def gif_bytes(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (30, 20), (i * 80, 40, 200 - i * 60)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0, comment=b"hi"
    )
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions (a decompression bomb's header), with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def upload(
    client: httpx.AsyncClient,
    person: Any,
    data: bytes,
    *,
    name: str = "photo.jpg",
    mime: str = "image/jpeg",
    version: int = 2,
    **fields: str,
) -> httpx.Response:
    return await client.post(
        f"/api/v{version}/media",
        headers=person.headers,
        files={"file": (name, data, mime)},
        data=fields,
    )


async def uploaded(client: httpx.AsyncClient, person: Any, data: bytes, **kw: Any) -> dict:
    r = await upload(client, person, data, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def local(url: str) -> str:
    return url.removeprefix("http://testserver")


async def fetch(client: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    """Fetch a media URL as a client does: no Authorization header."""
    return await client.get(local(url), **kw)


async def stored(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MediaAttachment)))


def files_on_disk() -> list[Path]:
    return sorted(p for p in Path(get_settings().media_dir).rglob("*") if p.is_file())


async def post(client: httpx.AsyncClient, person: Any, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/statuses", headers=person.headers, json=body)


# --- uploads ---------------------------------------------------------------------------


async def test_jpeg_upload_is_oriented_and_stripped_of_exif_and_gps(db, client, make_person):
    alice = await make_person("alice")
    media = await uploaded(client, alice, jpeg_with_gps(), description="a red flag", focus="0.5,-1")
    assert media["type"] == "image"
    assert media["remote_url"] is None
    assert media["description"] == "a red flag"
    assert media["blurhash"] and len(media["blurhash"]) >= 6
    meta = media["meta"]
    # EXIF orientation 6 (rotate 90 degrees) is applied: 120x80 becomes 80x120
    assert meta["original"] == {"width": 80, "height": 120, "size": "80x120", "aspect": 80 / 120}
    assert meta["small"]["width"] == 80
    assert meta["focus"] == {"x": 0.5, "y": -1.0}

    original = await fetch(client, media["url"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/jpeg"
    assert original.headers["x-content-type-options"] == "nosniff"
    assert int(original.headers["content-length"]) == len(original.content)
    image = Image.open(io.BytesIO(original.content))
    assert image.size == (80, 120)
    assert not image.getexif()  # no EXIF at all: no GPS, no maker, no orientation
    assert b"PhoneMaker" not in original.content and b"secret comment" not in original.content
    assert "comment" not in image.info and "exif" not in image.info
    preview = await fetch(client, media["preview_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"


async def test_an_uploads_blurhash_decodes_to_the_images_colours(db, client, make_person):
    alice = await make_person("alice")
    image = Image.new("RGB", (160, 80), (20, 40, 220))  # blue on the left...
    image.paste((230, 200, 20), (80, 0, 160, 80))  # ...yellow on the right
    out = io.BytesIO()
    image.save(out, "PNG")
    media = await uploaded(client, alice, out.getvalue())
    assert len(media["blurhash"]) == 2 + 4 + 2 * (4 * 4 - 1)  # 4 x 4 components
    blurred = blurhash.decode(media["blurhash"], 16, 8)  # an RGB image
    left, right = blurred.getpixel((1, 4)), blurred.getpixel((14, 4))
    assert left[2] > 150 and left[0] < 100  # blue
    assert right[0] > 150 and right[1] > 130 and right[2] < 100  # yellow


@pytest.mark.parametrize(
    ("data", "fmt", "preview_type"),
    [
        (png_bytes(alpha=True), "PNG", "image/webp"),
        (png_bytes(), "PNG", "image/jpeg"),
        (webp_bytes(), "WEBP", "image/jpeg"),
        (gif_bytes(frames=1), "GIF", "image/jpeg"),  # animated: a gifv (test_media_video)
    ],
    ids=["png-alpha", "png", "webp", "gif"],
)
async def test_png_webp_and_gif_are_detected_by_content(
    db, client, make_person, data, fmt, preview_type
):
    alice = await make_person("alice")
    # the client's MIME type and file name are wrong on purpose: the content decides
    media = await uploaded(client, alice, data, name="holiday.txt", mime="application/pdf")
    original = await fetch(client, media["url"])
    assert original.headers["content-type"] == f"image/{fmt.lower()}"
    assert media["url"].split("?")[0].endswith("." + {"JPEG": "jpg"}.get(fmt, fmt.lower()))
    image = Image.open(io.BytesIO(original.content))
    assert image.format == fmt
    assert "Comment" not in image.info and "comment" not in image.info
    assert b"Main Street" not in original.content
    preview = await fetch(client, media["preview_url"])
    assert preview.headers["content-type"] == preview_type


async def test_v1_upload_works_too(db, client, make_person):
    alice = await make_person("alice")
    r = await upload(client, alice, png_bytes(), version=1)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "image"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just some text, not an image", "not a supported image"),
        (b"", "empty"),
        (jpeg_with_gps()[:300], "truncated or corrupt"),
        (png_bytes()[:-40], "truncated or corrupt"),
        (png_header(100_000, 100_000), "larger than"),  # Pillow's own bomb check
        (png_header(7_000, 7_000), "larger than"),  # over our pixel limit
        (b"%PDF-1.4 not an image at all", "not a supported image"),
        (b"BM" + b"\x00" * 100, "not a supported image"),  # BMP header: not accepted
    ],
    ids=["text", "empty", "truncated-jpeg", "truncated-png", "bomb", "huge", "pdf", "bmp"],
)
async def test_bad_uploads_get_422_and_store_nothing(db, client, make_person, data, message):
    alice = await make_person("alice")
    before = files_on_disk()
    r = await upload(client, alice, data, mime="image/png", name="x.png")
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]
    assert await stored(db) == 0
    assert files_on_disk() == before


async def test_upload_limits_and_missing_file(db, client, make_person, monkeypatch):
    alice = await make_person("alice")
    monkeypatch.setattr(get_settings(), "media_max_bytes", 2000)
    r = await upload(client, alice, png_bytes(size=(300, 300)) + b"\x00" * 3000)
    assert r.status_code == 422 and "larger than" in r.json()["error"]
    r = await client.post("/api/v2/media", headers=alice.headers, data={"description": "x"})
    assert r.status_code == 422
    r = await client.post("/api/v2/media", headers=alice.headers, json={"file": "abc"})
    assert r.status_code == 422
    r = await client.post(
        "/api/v2/media", headers=alice.headers, files={"description": (None, "no file here")}
    )
    assert r.status_code == 422 and "File can't be blank" in r.json()["error"]
    r = await upload(client, alice, png_bytes(), description="x" * 1501)
    assert r.status_code == 422 and "too long" in r.json()["error"]
    r = await upload(client, alice, png_bytes(), focus="3,0")
    assert r.status_code == 422 and "focus" in r.json()["error"]
    assert await stored(db) == 0


async def test_upload_needs_a_token_with_write_media(db, client, make_person):
    reader = await make_person("reader", scopes="read")
    r = await upload(client, reader, png_bytes())
    assert r.status_code == 403
    r = await client.post("/api/v2/media", files={"file": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 401
    assert await stored(db) == 0


# --- alt text and focus ------------------------------------------------------------------


async def test_alt_text_and_focus_updates(db, client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    media = await uploaded(client, alice, png_bytes(), description="first")
    url = f"/api/v1/media/{media['id']}"
    for bad in ({"description": ""}, {"description": "   "}, {"description": "y" * 1501}):
        r = await client.put(url, headers=alice.headers, data=bad)
        assert r.status_code == 422, (bad, r.text)
    for bad_focus in ("2,0", "0", "a,b", "nan,0", "0,-1.5", "1,1,1"):
        r = await client.put(url, headers=alice.headers, data={"focus": bad_focus})
        assert r.status_code == 422, bad_focus
    shown = (await client.get(url, headers=alice.headers)).json()
    assert shown["description"] == "first" and "focus" not in shown["meta"]

    r = await client.put(url, headers=alice.headers, json={"description": "a green square"})
    assert r.status_code == 200 and r.json()["description"] == "a green square"
    r = await client.put(url, headers=alice.headers, data={"focus": "-0.25,0.75"})
    assert r.json()["meta"]["focus"] == {"x": -0.25, "y": 0.75}
    assert r.json()["description"] == "a green square"
    # a blank description sent along with a focus (as some clients do) keeps the alt text
    r = await client.put(url, headers=alice.headers, data={"description": "", "focus": "0,0"})
    assert r.status_code == 200 and r.json()["description"] == "a green square"

    assert (await client.get(url, headers=bob.headers)).status_code == 404
    r = await client.put(url, headers=bob.headers, data={"description": "mine now"})
    assert r.status_code == 404
    assert (await client.get("/api/v1/media/123", headers=alice.headers)).status_code == 404
    assert (await client.get("/api/v1/media/abc", headers=alice.headers)).status_code == 404


# --- attaching to posts ------------------------------------------------------------------


async def test_post_with_media_shows_it_everywhere(db, client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    first = await uploaded(client, alice, jpeg_with_gps(), description="one")
    second = await uploaded(client, alice, png_bytes(), description="two")
    # form-encoded media_ids[] (as most clients send them) and no text: media is enough
    r = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "", "media_ids[]": [second["id"], first["id"]]},
    )
    assert r.status_code == 200, r.text
    status = r.json()
    attached = status["media_attachments"]
    assert [m["id"] for m in attached] == [second["id"], first["id"]]  # the order given
    assert [m["description"] for m in attached] == ["two", "one"]
    assert all("?" not in m["url"] and "?" not in m["preview_url"] for m in attached)
    await run_jobs()

    home = (await client.get("/api/v1/timelines/home", headers=bob.headers)).json()
    assert [m["id"] for m in home[0]["media_attachments"]] == [second["id"], first["id"]]
    public = (await client.get("/api/v1/timelines/public")).json()
    assert public[0]["media_attachments"][0]["blurhash"] == second["blurhash"]
    shown = (await client.get(f"/api/v1/statuses/{status['id']}")).json()
    assert shown["media_attachments"] == attached

    r = await fetch(client, attached[0]["url"])  # anyone may fetch a public post's media
    assert r.status_code == 200
    assert r.headers["cache-control"].startswith("public")
    assert r.headers["x-robots-tag"] == "noai, noimageai"  # the author's AI-use signals
    assert r.headers["tdm-reservation"] == "1"
    r304 = await fetch(client, attached[0]["url"], headers={"If-None-Match": r.headers["etag"]})
    assert r304.status_code == 304 and not r304.content
    head = await client.head(local(attached[0]["url"]))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(r.content))
    # the original of a public post is not reachable under another name or variant
    key = attached[0]["url"].split("/")[-2]
    for wrong in (
        f"/media/{key}/original.jpg",
        f"/media/{key}/large.png",
        "/media/zz/original.png",
    ):
        assert (await client.get(wrong)).status_code == 404

    # a boost carries the original's media
    r = await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=bob.headers)
    assert r.json()["reblog"]["media_attachments"] == attached


@pytest.mark.parametrize("how", ["json", "form"])
async def test_attaching_rules(db, client, make_person, how):
    alice, bob = await make_person("alice"), await make_person("bob")
    mine = [(await uploaded(client, alice, png_bytes()))["id"] for _ in range(5)]
    theirs = (await uploaded(client, bob, png_bytes()))["id"]

    async def attempt(ids: list[str]) -> httpx.Response:
        if how == "json":
            return await post(client, alice, status="pics", media_ids=ids)
        return await client.post(
            "/api/v1/statuses", headers=alice.headers, data={"status": "pics", "media_ids[]": ids}
        )

    for ids, message in (
        (mine, "at most 4"),
        ([mine[0], theirs], f"Media {theirs} not found"),
        ([mine[0], mine[0]], "attached twice"),
        (["999"], "Media 999 not found"),
        (["abc"], "numeric"),
    ):
        r = await attempt(ids)
        assert r.status_code == 422, r.text
        assert message in r.json()["error"]
    async with db.session() as session:
        attached = await session.scalar(
            select(func.count())
            .select_from(MediaAttachment)
            .where(MediaAttachment.post_id.is_not(None))
        )
    assert attached == 0
    statuses = (await client.get(f"/api/v1/accounts/{alice.id}/statuses")).json()
    assert statuses == []  # nothing was posted

    r = await attempt(mine[:4])
    assert r.status_code == 200 and len(r.json()["media_attachments"]) == 4
    r = await attempt([mine[0]])
    assert r.status_code == 422 and "already attached" in r.json()["error"]
    r = await client.put(
        f"/api/v1/media/{mine[0]}", headers=alice.headers, data={"description": "late"}
    )
    assert r.status_code == 422 and "edit the post" in r.json()["error"]


async def test_blank_post_without_media_is_still_refused(db, client, make_person):
    alice = await make_person("alice")
    r = await post(client, alice, status="  ", media_ids=[])
    assert r.status_code == 422


async def test_two_posts_racing_for_one_media_attach_it_once(db, client, make_person):
    import asyncio

    alice = await make_person("alice")
    media_id = (await uploaded(client, alice, png_bytes()))["id"]
    results = await asyncio.gather(
        *(post(client, alice, status=f"race {i}", media_ids=[media_id]) for i in range(4))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 422, 422, 422], [r.text for r in results]
    statuses = (await client.get(f"/api/v1/accounts/{alice.id}/statuses")).json()
    assert len(statuses) == 1 and statuses[0]["media_attachments"][0]["id"] == media_id


# --- who may fetch the files -------------------------------------------------------------


async def test_followers_only_media_is_served_only_to_who_may_see_the_post(
    db, client, make_person, run_jobs
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    media = await uploaded(client, alice, jpeg_with_gps())
    plain = media["url"].split("?")[0]
    assert (await fetch(client, plain)).status_code == 404  # unattached: owner only
    r = await post(
        client, alice, status="friends only", visibility="private", media_ids=[media["id"]]
    )
    assert r.status_code == 200, r.text
    status_id = r.json()["id"]

    for_alice = r.json()["media_attachments"][0]
    seen_by_bob = (await client.get(f"/api/v1/statuses/{status_id}", headers=bob.headers)).json()
    for_bob = seen_by_bob["media_attachments"][0]
    assert for_bob["url"] != for_alice["url"]  # URLs are made for each viewer
    assert f"viewer={bob.id}" in for_bob["url"]
    ok = await fetch(client, for_bob["url"])
    assert ok.status_code == 200 and ok.headers["cache-control"].startswith("private")
    assert (await fetch(client, for_bob["preview_url"])).status_code == 200
    assert (await fetch(client, for_alice["url"])).status_code == 200

    # a stranger: no status, and no file by the plain path, a forged or a re-targeted signature
    r = await client.get(f"/api/v1/statuses/{status_id}", headers=carol.headers)
    assert r.status_code == 404
    sig = for_bob["url"].split("sig=")[1]
    for url in (
        plain,
        f"{plain}?viewer={carol.id}&sig={sig}",
        f"{plain}?viewer={bob.id}&sig={'0' * 32}",
        f"{plain}?viewer={bob.id}",
        f"{plain}?viewer=x&sig={sig}",
    ):
        assert (await fetch(client, url)).status_code == 404, url

    # bob's URL stops working as soon as he may no longer see the post
    await client.post(f"/api/v1/accounts/{alice.id}/unfollow", headers=bob.headers)
    assert (await fetch(client, for_bob["url"])).status_code == 404
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert (await fetch(client, for_bob["url"])).status_code == 200
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert (await fetch(client, for_bob["url"])).status_code == 404


async def test_direct_post_media_reaches_the_mentioned_only(db, client, make_person):
    alice, bob, carol = (
        await make_person("alice"),
        await make_person("bob"),
        await make_person("carol"),
    )
    media = await uploaded(client, alice, png_bytes())
    r = await post(
        client, alice, status="@bob just you", visibility="direct", media_ids=[media["id"]]
    )
    status_id = r.json()["id"]
    for_bob = (await client.get(f"/api/v1/statuses/{status_id}", headers=bob.headers)).json()
    assert (await fetch(client, for_bob["media_attachments"][0]["url"])).status_code == 200
    r = await client.get(f"/api/v1/statuses/{status_id}", headers=carol.headers)
    assert r.status_code == 404


async def test_deleted_post_and_suspended_author_media_is_not_served(db, client, make_person):
    alice = await make_person("alice")
    media = await uploaded(client, alice, png_bytes())
    r = await post(client, alice, status="soon gone", media_ids=[media["id"]])
    url = r.json()["media_attachments"][0]["url"]
    assert (await fetch(client, url)).status_code == 200
    from agora.db.models import Account

    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == alice.id).values(suspended_at=utcnow())
        )
        await session.commit()
    assert (await fetch(client, url)).status_code == 404


# --- edits, deletes and clean-up -----------------------------------------------------------


async def test_editing_a_post_changes_its_media(db, client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    one, two, three = [(await uploaded(client, alice, png_bytes()))["id"] for _ in range(3)]
    r = await post(client, alice, status="v1", media_ids=[one, two], visibility="private")
    sid = r.json()["id"]
    edit_url = f"/api/v1/statuses/{sid}"

    # no media_ids: the media stays as it is
    r = await client.put(edit_url, headers=alice.headers, data={"status": "v2"})
    assert [m["id"] for m in r.json()["media_attachments"]] == [one, two]

    # new list and order, with alt text through media_attributes (as Mastodon.py sends it)
    body = {
        "status": "v3",
        "media_ids": [three, one],
        "media_attributes": [{"id": one, "description": "now described", "focus": "0.1,0.2"}],
    }
    r = await client.put(edit_url, headers=alice.headers, json=body)
    assert r.status_code == 200, r.text
    attached = r.json()["media_attachments"]
    assert [m["id"] for m in attached] == [three, one]
    assert attached[1]["description"] == "now described"
    assert attached[1]["meta"]["focus"] == {"x": 0.1, "y": 0.2}

    # the dropped one is unattached again: only its owner sees it
    dropped = (await client.get(f"/api/v1/media/{two}", headers=alice.headers)).json()
    assert (await fetch(client, dropped["url"])).status_code == 200
    assert (await fetch(client, dropped["url"].split("?")[0])).status_code == 404

    # someone else's media, an unknown attribute target, bad alt text: 422, nothing changes
    theirs = (await uploaded(client, bob, png_bytes()))["id"]
    for bad in (
        {"status": "x", "media_ids": [theirs]},
        {"status": "x", "media_ids": [one], "media_attributes": [{"id": three}]},
        {"status": "x", "media_ids": [one], "media_attributes": [{"id": one, "focus": "9,9"}]},
        {"status": "x", "media_ids": [one, two, three, theirs, "5"]},
        {"status": "", "media_ids": []},
    ):
        r = await client.put(edit_url, headers=alice.headers, json=bad)
        assert r.status_code == 422, (bad, r.text)
    shown = (await client.get(edit_url, headers=alice.headers)).json()
    assert shown["content"] == "<p>v3</p>"
    assert [m["id"] for m in shown["media_attachments"]] == [three, one]

    # an empty list removes all media (text is still there)
    r = await client.put(edit_url, headers=alice.headers, json={"status": "v4", "media_ids": []})
    assert r.status_code == 200 and r.json()["media_attachments"] == []

    # someone else cannot edit media into alice's post
    r = await client.put(edit_url, headers=bob.headers, json={"status": "x", "media_ids": [theirs]})
    assert r.status_code == 404  # a private post bob may not see: it does not exist for him
    assert r.json() == {"error": "Record not found"}


async def _age(db: Any, days: float) -> None:
    """Make every unattached upload older and every pending job due now."""
    async with db.session(write=True) as session:
        await session.execute(
            update(MediaAttachment)
            .where(MediaAttachment.post_id.is_(None))
            .values(unattached_since=utcnow() - timedelta(days=days))
        )
        await session.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))
        await session.commit()


async def test_unattached_uploads_are_swept_after_a_day(db, client, make_person, run_jobs):
    alice = await make_person("alice")
    kept = await uploaded(client, alice, png_bytes())
    await post(client, alice, status="kept", media_ids=[kept["id"]])
    fresh = await uploaded(client, alice, png_bytes())
    old = await uploaded(client, alice, jpeg_with_gps())
    await run_jobs()  # the sweeps are due in a day: nothing happens now
    assert await stored(db) == 3
    async with db.session(write=True) as session:
        await session.execute(
            update(MediaAttachment)
            .where(MediaAttachment.id == int(old["id"]))
            .values(unattached_since=utcnow() - timedelta(hours=25))
        )
        await session.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))
        await session.commit()
    files_before = len(files_on_disk())
    await run_jobs()
    assert await stored(db) == 2
    assert len(files_on_disk()) == files_before - 2  # original and preview
    r = await client.get(f"/api/v1/media/{old['id']}", headers=alice.headers)
    assert r.status_code == 404
    assert (await fetch(client, fresh["url"])).status_code == 200
    r = await post(client, alice, status="too late", media_ids=[old["id"]])
    assert r.status_code == 422

    # idempotent: running the sweep again (as after a worker crash) changes nothing
    from agora.social.media.uploads import sweep_unattached_media

    async with db.transaction() as session:
        await sweep_unattached_media(session, {})
    assert await stored(db) == 2


async def test_deleting_a_post_lets_its_media_go(db, client, make_person, run_jobs):
    alice = await make_person("alice")
    media = await uploaded(client, alice, png_bytes(), description="redraft me")
    r = await post(client, alice, status="first try", media_ids=[media["id"]])
    sid, public_url = r.json()["id"], r.json()["media_attachments"][0]["url"]

    r = await client.delete(f"/api/v1/statuses/{sid}", headers=alice.headers)
    assert r.status_code == 200
    deleted = r.json()
    assert deleted["text"] == "first try"
    redraft = deleted["media_attachments"][0]
    assert redraft["description"] == "redraft me"
    assert (await fetch(client, public_url)).status_code == 404  # gone with the post
    assert (await fetch(client, redraft["url"])).status_code == 200  # the owner's copy

    # "delete and redraft": the same media in a new post
    r = await post(client, alice, status="second try", media_ids=[media["id"]])
    assert r.status_code == 200 and r.json()["media_attachments"][0]["id"] == media["id"]
    sid = r.json()["id"]

    r = await client.delete(f"/api/v1/statuses/{sid}?delete_media=true", headers=alice.headers)
    assert r.status_code == 200
    await run_jobs()
    assert await stored(db) == 0
    assert files_on_disk() == []


async def test_deleted_post_media_is_swept_a_day_later(db, client, make_person, run_jobs):
    alice = await make_person("alice")
    media = await uploaded(client, alice, png_bytes())
    r = await post(client, alice, status="bye", media_ids=[media["id"]])
    await client.delete(f"/api/v1/statuses/{r.json()['id']}", headers=alice.headers)
    await run_jobs()
    assert await stored(db) == 1
    await _age(db, days=1.1)
    await run_jobs()
    assert await stored(db) == 0


async def test_only_media_filters(db, client, make_person):
    alice = await make_person("alice")
    media = await uploaded(client, alice, png_bytes())
    with_media = (await post(client, alice, status="pic", media_ids=[media["id"]])).json()
    await post(client, alice, status="words only")
    url = f"/api/v1/accounts/{alice.id}/statuses"
    assert [s["id"] for s in (await client.get(url, params={"only_media": "true"})).json()] == [
        with_media["id"]
    ]
    assert len((await client.get(url)).json()) == 2
    public = await client.get("/api/v1/timelines/public", params={"only_media": "1"})
    assert [s["id"] for s in public.json()] == [with_media["id"]]
    private_media = await uploaded(client, alice, png_bytes())
    await post(
        client, alice, status="hidden", visibility="private", media_ids=[private_media["id"]]
    )
    anonymous = (await client.get(url, params={"only_media": "true"})).json()
    assert [s["id"] for s in anonymous] == [with_media["id"]]


async def test_instance_advertises_media_limits(client):
    config = (await client.get("/api/v2/instance")).json()["configuration"]
    assert config["statuses"]["max_media_attachments"] == 4
    media = config["media_attachments"]
    assert set(media["supported_mime_types"]) >= {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "video/mp4",
        "audio/mpeg",
    }
    assert media["video_size_limit"] == get_settings().media_av_max_bytes
    assert media["image_size_limit"] == get_settings().media_max_bytes
    assert media["image_matrix_limit"] == get_settings().media_max_pixels


async def test_media_adds_no_query_to_a_page(db, client, make_person, run_jobs):
    """A page's media comes with its posts (one JSON column), not from a query of its own."""
    from sqlalchemy import event

    from agora.api import serialise

    alice = await make_person("alice")
    plain = [(await post(client, alice, status=f"plain {i}")).json()["id"] for i in range(3)]
    pictured = []
    for i in range(3):
        ids = [(await uploaded(client, alice, png_bytes()))["id"] for _ in range(i + 1)]
        pictured.append((await post(client, alice, status=f"pics {i}", media_ids=ids)).json()["id"])

    async def queries(ids: list[str]) -> tuple[int, list[dict[str, Any]]]:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with db.session() as session:
                shown = await serialise.statuses(session, alice.id, [int(i) for i in ids])
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        return len(seen), shown

    without, _ = await queries(plain)
    with_media, shown = await queries(pictured)
    assert [len(s["media_attachments"]) for s in shown] == [1, 2, 3]
    assert with_media == without
