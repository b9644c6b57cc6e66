"""Custom emoji (social/media/custom_emojis.py): the list the API gives, the `emojis` of
Status, Account and Poll entities (taken when the text is written, re-taken when an emoji is
added, disabled or removed, so no rendering, cached or not, is stale), the files served,
bad uploads refused with nothing stored, the CLI and the admin console."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from agora.db.models import CustomEmoji, ModerationAction, Post
from agora.social.media import custom_emojis
from agora.social.media.storage import media_storage
from agora.social.rules.errors import Invalid
from helpers import csrf_of, make_admin, post_status, web_sign_in


def png(side: int = 16, color: str = "red") -> bytes:
    """A small PNG."""
    out = io.BytesIO()
    Image.new("RGBA", (side, side), color).save(out, format="PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    """A two-frame GIF."""
    out = io.BytesIO()
    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0)
    return out.getvalue()


async def add(db: Any, shortcode: str, data: bytes | None = None, **kw: Any) -> CustomEmoji:
    async with db.session(write=True) as session:
        return await custom_emojis.add_emoji(session, shortcode, data or png(), **kw)


async def emoji_count(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CustomEmoji)) or 0)


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def codes(entity: dict[str, Any]) -> list[str]:
    return [e["shortcode"] for e in entity["emojis"]]


async def test_list_entities_and_files(db, client):
    await add(db, "blobcat", category="Blobs")
    await add(db, "party", animated_gif())
    listed = (await client.get("/api/v1/custom_emojis")).json()
    assert [e["shortcode"] for e in listed] == ["party", "blobcat"]  # no category first
    blob = listed[1]
    assert blob["category"] == "Blobs" and blob["visible_in_picker"] is True
    assert blob["url"].startswith("http://") and blob["url"].endswith("/original.png")
    image = await client.get(path_of(blob["url"]))
    assert image.status_code == 200 and image.content == png()
    still = await client.get(path_of(listed[0]["static_url"]))
    assert still.status_code == 200 and still.headers["content-type"] == "image/png"
    assert listed[0]["url"].endswith("/original.gif")
    assert (await client.get("/emoji/123/original.png")).status_code == 404


async def test_status_account_and_poll_entities(db, client, make_person):
    await add(db, "blobcat")
    await add(db, "wave")
    ana = await make_person("ana")
    await add(db, "gone")
    async with db.session(write=True) as session:
        await custom_emojis.set_disabled(session, "gone", True)
    status = await post_status(
        client,
        ana,
        as_json=True,
        status="hello :blobcat: :gone: :nothing: not:wave:",
        spoiler_text="cw :wave:",
        poll={"options": ["yes :blobcat:", "no"], "expires_in": 3600},
    )
    assert codes(status) == ["blobcat", "wave"]
    assert codes(status["poll"]) == ["blobcat"]
    profile = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=ana.headers,
        json={"display_name": "Ana :wave:", "note": "bio :blobcat:"},
    )
    assert codes(profile.json()) == ["blobcat", "wave"]
    shown = (await client.get(f"/api/v1/statuses/{status['id']}")).json()
    assert codes(shown) == ["blobcat", "wave"] and codes(shown["poll"]) == ["blobcat"]
    assert codes(shown["account"]) == ["blobcat", "wave"]


async def test_changes_reach_cached_renderings(db, client, make_person):
    """Disabling, enabling, removing and adding an emoji re-take the posts and profiles that
    name it: the cached renderings follow (their render versions move)."""
    ana = await make_person("ana")
    await add(db, "blobcat")
    sid = (await post_status(client, ana, "hi :blobcat: :later:"))["id"]
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=ana.headers,
        data={"fields_attributes[0][name]": "site", "fields_attributes[0][value]": "x :blobcat:"},
    )

    async def shown() -> tuple[list[str], list[str]]:
        page = (await client.get(f"/api/v1/accounts/{ana.id}/statuses")).json()
        return codes(page[0]), codes(page[0]["account"])

    assert await shown() == (["blobcat"], ["blobcat"])
    async with db.session(write=True) as session:
        await custom_emojis.set_disabled(session, "blobcat", True)
    assert await shown() == ([], [])
    assert [e["shortcode"] for e in (await client.get("/api/v1/custom_emojis")).json()] == []
    async with db.session(write=True) as session:
        await custom_emojis.set_disabled(session, "blobcat", False)
    assert await shown() == (["blobcat"], ["blobcat"])
    await add(db, "later")
    assert (await shown())[0] == ["blobcat", "later"]
    async with db.session(write=True) as session:
        await custom_emojis.remove_emoji(session, "blobcat")
    assert await shown() == (["later"], [])
    assert sid


@pytest.mark.parametrize(
    ("shortcode", "data", "message"),
    [
        ("ok_code", b"GIF89a not really", "corrupt"),
        ("ok_code", b"plain text", "not a supported image"),
        ("ok_code", png(400) + b"\0" * 300_000, "at most 256 KB"),
        ("a", png(), "Shortcode"),
        ("bad-code", png(), "Shortcode"),
    ],
)
async def test_bad_uploads_store_nothing(db, shortcode, data, message):
    before = stored_files()
    with pytest.raises(Invalid, match=message):
        await add(db, shortcode, data)
    assert await emoji_count(db) == 0
    assert stored_files() == before


def stored_files() -> set[str]:
    return set(media_storage().stored_keys())  # type: ignore[attr-defined]


async def test_taken_shortcode_is_refused(db):
    await add(db, "blobcat")
    with pytest.raises(Invalid, match="taken"):
        await add(db, "blobcat")
    assert await emoji_count(db) == 1


async def test_admin_console_page(db, client, make_person):
    await make_admin(db, make_person, "boss")
    csrf = await web_sign_in(client, "boss")
    page = await client.get("/admin/emoji")
    assert page.status_code == 200
    sent = await client.post(
        "/admin/emoji",
        data={"csrf": csrf_of(page.text), "shortcode": "blobcat", "category": "Blobs"},
        files={"image": ("blobcat.png", png(), "image/png")},
    )
    assert sent.status_code == 303, sent.text
    page = await client.get("/admin/emoji")
    assert ":blobcat:" in page.text and "Blobs" in page.text
    refused = await client.post(
        "/admin/emoji",
        data={"csrf": csrf, "shortcode": "x"},
        files={"image": ("x.png", png(), "image/png")},
    )
    assert refused.status_code == 422 and "Shortcode" in refused.text
    emoji_id = (await client.get("/api/v1/custom_emojis")).json()[0]["url"].split("/")[-2]
    await client.post(f"/admin/emoji/{emoji_id}/disable", data={"csrf": csrf})
    assert (await client.get("/api/v1/custom_emojis")).json() == []
    await client.post(f"/admin/emoji/{emoji_id}/delete", data={"csrf": csrf})
    assert await emoji_count(db) == 0
    async with db.session() as session:
        actions = await session.scalars(
            select(ModerationAction.action).order_by(ModerationAction.created_at)
        )
        assert list(actions) == ["emoji.add", "emoji.disable", "emoji.remove"]


async def test_admin_console_page_is_admins_only(db, client, make_person):
    await make_person("ana")
    await web_sign_in(client, "ana")
    assert (await client.get("/admin/emoji")).status_code == 404
    assert (await client.post("/admin/emoji", data={"shortcode": "xx"})).status_code == 404


def test_cli_add_list_remove(db, tmp_path):
    """`agora emoji` in process (typer's runner), on the tests' database."""
    from typer.testing import CliRunner

    from agora.cli.main import app

    runner = CliRunner()
    image, text = tmp_path / "blob.png", tmp_path / "notes.txt"
    image.write_bytes(png())
    text.write_text("not an image")

    def agora(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["emoji", *args])
        assert result.exit_code == code, result.output
        return result.output

    assert ":blobcat: added" in agora("add", "blobcat", str(image), "--category", "Blobs")
    assert "not a supported image" in agora("add", "other", str(text), code=1)
    assert "Shortcode" in agora("add", "b-c", str(image), code=1)
    assert "cannot read" in agora("add", "missing", str(tmp_path / "none.png"), code=1)
    listing = agora("list")
    assert ":blobcat:" in listing and "Blobs" in listing and "other" not in listing
    assert "disabled" in agora("disable", "blobcat")
    assert "disabled" in agora("list")
    assert ":blobcat: removed" in agora("remove", ":blobcat:")
    assert "No emoji :blobcat:" in agora("remove", "blobcat", code=1)
    assert ":blobcat:" not in agora("list")


async def test_web_shows_emoji_in_posts_names_and_bios(db, client, make_person):
    await add(db, "blobcat")
    ana = await make_person("ana")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=ana.headers,
        data={"display_name": "Ana :blobcat:", "note": "bio :blobcat: <b>x</b>"},
    )
    sid = (await post_status(client, ana, "hi :blobcat: https://example.com/:blobcat:/x"))["id"]
    img = re.compile(r'<img class="emoji" src="/emoji/\d+/original.png" alt=":blobcat:"')
    page = (await client.get(f"/@ana/{sid}")).text
    assert len(img.findall(page)) == 3  # the name, the text, the link's text (not its href)
    assert 'href="https://example.com/:blobcat:/x"' in page
    profile = (await client.get("/@ana")).text
    assert len(img.findall(profile)) >= 2 and "<b>x</b>" not in profile


# --- federation (a remote actor `rob` on remote.invalid, as tests/test_federation_objects.py) --

ROB = "http://remote.invalid/users/rob"
AP = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def emoji_tag(shortcode: str, url: str) -> dict[str, Any]:
    return {
        "id": f"http://remote.invalid/emojis/{shortcode}",
        "type": "Emoji",
        "name": f":{shortcode}:",
        "updated": "2026-12-01T00:00:00Z",
        "icon": {"type": "Image", "mediaType": "image/png", "url": url},
    }


async def test_outgoing_note_and_actor_carry_emoji_tags(db, client, make_person):
    emoji = await add(db, "blobcat", animated_gif())
    ana = await make_person("ana")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=ana.headers,
        data={"display_name": "Ana :blobcat:"},
    )
    sid = (await post_status(client, ana, "hi :blobcat: :nothing:"))["id"]
    note = (await client.get(f"/users/ana/statuses/{sid}", headers={"Accept": AP})).json()
    actor = (await client.get("/users/ana", headers={"Accept": AP})).json()
    expected = {
        "id": f"{custom_emojis.get_settings().base_url}/emojis/{emoji.id}",
        "type": "Emoji",
        "name": ":blobcat:",
        "updated": emoji.updated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "icon": {
            "type": "Image",
            "mediaType": "image/gif",
            "url": f"{custom_emojis.get_settings().base_url}/emoji/{emoji.id}/original.gif",
        },
    }
    assert [t for t in note["tag"] if t["type"] == "Emoji"] == [expected]
    assert actor["tag"] == [expected]
    assert any(isinstance(c, dict) and c.get("Emoji") == "toot:Emoji" for c in actor["@context"])


async def test_received_emoji_are_stored_and_shown(db, client, make_person, run_jobs):
    from agora.federation.actors import parse_actor, store_actor
    from federation_peers import remote_peer

    rob = await remote_peer(db, ROB)
    ana = await make_person("ana")
    await add(db, "blobcat")  # a local one of the same name is not theirs
    note_uri = f"{ROB}/statuses/1"
    await rob.deliver(
        client,
        rob.create(
            {
                "id": note_uri,
                "type": "Note",
                "attributedTo": ROB,
                "content": "<p>hello :blobcat: :wave: :bad-one:</p>",
                "to": [PUBLIC],
                "tag": [
                    emoji_tag("blobcat", "https://remote.invalid/files/blob.png"),
                    emoji_tag("wave", "https://remote.invalid/files/wave.png"),
                    {"type": "Emoji", "name": ":bad-one:", "icon": {"url": "javascript:x"}},
                    {"type": "Emoji", "name": ":unused:", "icon": {"url": "https://x.invalid/u"}},
                ],
            }
        ),
    )
    await run_jobs()
    async with db.session() as session:
        remote = (
            await session.scalars(
                select(CustomEmoji)
                .where(CustomEmoji.domain == "remote.invalid")
                .order_by(CustomEmoji.shortcode)
            )
        ).all()
        post_id = await session.scalar(select(Post.id).where(Post.uri == note_uri))
    assert [(e.shortcode, e.remote_url) for e in remote] == [
        ("blobcat", "https://remote.invalid/files/blob.png"),
        ("unused", "https://x.invalid/u"),
        ("wave", "https://remote.invalid/files/wave.png"),
    ]
    status = (await client.get(f"/api/v1/statuses/{post_id}", headers=ana.headers)).json()
    assert [(e["shortcode"], e["url"]) for e in status["emojis"]] == [
        ("blobcat", "https://remote.invalid/files/blob.png"),
        ("wave", "https://remote.invalid/files/wave.png"),
    ]
    listed = (await client.get("/api/v1/custom_emojis")).json()
    assert [e["shortcode"] for e in listed] == ["blobcat"]  # the local one only
    assert listed[0]["url"].startswith(custom_emojis.get_settings().base_url)

    doc = {
        "id": ROB,
        "type": "Person",
        "preferredUsername": "rob",
        "name": "Rob :wave:",
        "inbox": f"{ROB}/inbox",
        "publicKey": {"id": f"{ROB}#main-key", "owner": ROB, "publicKeyPem": rob.public_pem},
        "tag": [emoji_tag("wave", "https://remote.invalid/files/wave2.png")],
    }
    async with db.session(write=True) as session:
        await store_actor(session, parse_actor(doc, ROB))
        await session.commit()
    account = (await client.get(f"/api/v1/accounts/{rob.id}")).json()
    assert [(e["shortcode"], e["url"]) for e in account["emojis"]] == [
        ("wave", "https://remote.invalid/files/wave2.png")
    ]
