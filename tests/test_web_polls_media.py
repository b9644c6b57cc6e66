"""The web app's polls (voting, results, creating one from the composer) and images (the
composer's uploads with alt text, the lightbox's markup) over HTTP (in-process)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import MediaAttachment, Poll, PollVote, Post, utcnow
from helpers import HX, csrf_of, post_ids, web_sign_in


@pytest.fixture(autouse=True)
def media_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test stores its files in a directory of its own."""
    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    return tmp_path / "media"


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (9, 120, 9)).save(out, "PNG")
    return out.getvalue()


async def _poll(client, person, *, multiple: bool = False) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    made = await client.post(
        "/api/v1/statuses",
        json={
            "status": "which one?",
            "poll": {
                "options": ["tea", "coffee", "water"],
                "expires_in": 3600,
                "multiple": multiple,
            },
        },
        headers=person.headers,
    )
    assert made.status_code == 200, made.text
    return made.json()["id"], made.json()["poll"]["id"]


@pytest.fixture
async def pair(client, make_person):  # type: ignore[no-untyped-def]
    return await make_person("alice"), await make_person("bob")


async def test_vote_swaps_the_post_with_results(client, pair, db) -> None:  # type: ignore[no-untyped-def]
    alice, bob = pair
    post_id, poll_id = await _poll(client, bob)
    csrf = await web_sign_in(client, "alice")
    thread = await client.get(f"/@bob/{post_id}")
    assert f'hx-post="/web/polls/{poll_id}/votes"' in thread.text and 'type="radio"' in thread.text
    headers = {**HX, "X-CSRF-Token": csrf}
    voted = await client.post(f"/web/polls/{poll_id}/votes", data={"choices": "1"}, headers=headers)
    assert voted.status_code == 200 and voted.text.lstrip().startswith("<article")
    assert "your vote" in voted.text and "100%" in voted.text and "/votes" not in voted.text
    api = await client.get(f"/api/v1/polls/{poll_id}", headers=alice.headers)
    assert api.json()["own_votes"] == [1] and api.json()["votes_count"] == 1
    again = await client.post(f"/web/polls/{poll_id}/votes", data={"choices": "0"}, headers=headers)
    assert again.status_code == 422 and "already voted" in again.text and "<html" not in again.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PollVote)) == 1


async def test_vote_refusals(client, pair, db) -> None:  # type: ignore[no-untyped-def]
    _, bob = pair
    _, poll_id = await _poll(client, bob, multiple=True)
    _, ended_id = await _poll(client, bob)
    async with db.transaction() as session:
        past = utcnow() - timedelta(minutes=1)
        await session.execute(update(Poll).where(Poll.id == int(ended_id)).values(expires_at=past))
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    url = f"/web/polls/{poll_id}/votes"
    assert (await client.post(url, data={"choices": "0"}, headers=HX)).status_code == 403
    for choices, message in [
        ([], "Choose an option"),
        (["9"], "does not exist"),
        (["x"], "does not exist"),
    ]:
        response = await client.post(url, data={"choices": choices}, headers=headers)
        assert response.status_code == 422 and message in response.text, choices
    ended = await client.post(
        f"/web/polls/{ended_id}/votes", data={"choices": "0"}, headers=headers
    )
    assert ended.status_code == 422 and "ended" in ended.text
    assert (
        await client.post("/web/polls/123/votes", data={"choices": "0"}, headers=headers)
    ).status_code == 404
    several = await client.post(url, data={"choices": ["0", "2"]}, headers=headers)
    assert several.status_code == 200 and several.text.count("your vote") == 2
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PollVote)) == 2
    open_one = await client.get(f"/@bob/{(await _poll(client, bob))[0]}")
    assert "Vote</button>" in open_one.text
    ended_page = await client.get("/@bob?tab=replies")
    assert "closed" in ended_page.text
    plain = await client.post(url, data={"choices": "1", "csrf": csrf})  # a form without HTMX
    assert plain.status_code == 303


async def test_followers_only_poll_is_404_to_others(client, make_person) -> None:  # type: ignore[no-untyped-def]
    await make_person("alice")
    bob = await make_person("bob")
    made = await client.post(
        "/api/v1/statuses",
        json={
            "status": "secret poll",
            "visibility": "private",
            "poll": {"options": ["a", "b"], "expires_in": 600},
        },
        headers=bob.headers,
    )
    csrf = await web_sign_in(client, "alice")
    poll_id = made.json()["poll"]["id"]
    response = await client.post(
        f"/web/polls/{poll_id}/votes", data={"choices": "0"}, headers={**HX, "X-CSRF-Token": csrf}
    )
    assert response.status_code == 404


async def test_composer_makes_a_poll(client, pair) -> None:  # type: ignore[no-untyped-def]
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    home = await client.get("/home")
    assert 'name="poll_option"' in home.text and 'hx-encoding="multipart/form-data"' in home.text
    form = {
        "status": "pick",
        "visibility": "public",
        "poll_option": ["red", "blue", "", ""],
        "poll_expires_in": "300",
    }
    made = await client.post("/web/statuses", data=form, headers=headers)
    assert made.status_code == 200 and "red" in made.text and "0 people" in made.text
    bad = {**form, "poll_option": ["only", "", "", ""]}
    refused = await client.post("/web/statuses", data=bad, headers=headers)
    assert refused.status_code == 422 and "more than one" in refused.text


async def test_composer_uploads_images_with_alt_text(client, pair, db, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice, _ = pair
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    files = {
        "media_0": ("a.png", png(), "image/png"),
        "media_2": ("b.png", png((30, 30)), "image/png"),
    }
    data = {"status": "two pictures", "visibility": "public", "description_0": "a green field"}
    made = await client.post("/web/statuses", data=data, files=files, headers=headers)
    assert made.status_code == 200, made.text
    assert made.text.count("data-lightbox") == 2 and 'alt="a green field"' in made.text
    assert 'aria-label="Open image (no description)"' in made.text
    post_id = post_ids(made.text)[0]
    api = await client.get(f"/api/v1/statuses/{post_id}", headers=alice.headers)
    assert [m["description"] for m in api.json()["media_attachments"]] == ["a green field", None]
    small = re.search(r'<img src="([^"]+)"', made.text).group(1)
    assert (await client.get(small)).status_code == 200


async def test_composer_bad_image_changes_nothing(client, pair, db) -> None:  # type: ignore[no-untyped-def]
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    data = {"status": "broken", "visibility": "public"}
    bad = {"media_0": ("x.png", b"not an image at all", "image/png")}
    refused = await client.post("/web/statuses", data=data, files=bad, headers=headers)
    assert refused.status_code == 422 and "not a supported image" in refused.text
    five = {f"media_{n}": (f"{n}.png", png(), "image/png") for n in range(5)}
    too_many = await client.post("/web/statuses", data=data, files=five, headers=headers)
    assert too_many.status_code == 422 and "at most 4" in too_many.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 0
        assert await session.scalar(select(func.count()).select_from(MediaAttachment)) == 0
    with_poll = {**data, "poll_option": ["a", "b"]}
    both = await client.post(
        "/web/statuses",
        data=with_poll,
        files={"media_0": ("a.png", png(), "image/png")},
        headers=headers,
    )
    assert both.status_code == 422 and "both a poll and media" in both.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(MediaAttachment)) == 0
    empty = {"media_0": ("", b"", "application/octet-stream")}
    plain = await client.post("/web/statuses", data=data, files=empty, headers=headers)
    assert plain.status_code == 200  # an empty file input is no image
    assert csrf_of((await client.get("/home")).text)


async def test_web_uploads_are_rate_limited(client, pair, db, app) -> None:  # type: ignore[no-untyped-def]
    from limits import parse

    app.state.ratelimits.media = parse("2/minute")
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    two = {f"media_{n}": (f"{n}.png", png(), "image/png") for n in range(2)}
    data = {"status": "pictures", "visibility": "public"}
    assert (
        await client.post("/web/statuses", data=data, files=two, headers=headers)
    ).status_code == 200
    refused = await client.post("/web/statuses", data=data, files=two, headers=headers)
    assert refused.status_code == 429
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(MediaAttachment)) == 2
        assert await session.scalar(select(func.count()).select_from(Post)) == 1


async def _sensitive_post_with_image(client, person) -> str:  # type: ignore[no-untyped-def]
    media = await client.post(
        "/api/v2/media", headers=person.headers, files={"file": ("a.png", png(), "image/png")}
    )
    assert media.status_code == 200, media.text
    made = await client.post(
        "/api/v1/statuses",
        json={
            "status": "a picture",
            "media_ids": [media.json()["id"]],
            "sensitive": True,
            "spoiler_text": "spiders",
        },
        headers=person.headers,
    )
    assert made.status_code == 200 and made.json()["sensitive"] is True
    return made.json()["id"]


async def test_web_edit_keeps_sensitive_images_hidden(client, pair) -> None:  # type: ignore[no-untyped-def]
    """The edit form shows the content warning and the sensitive box as they are; saving it
    keeps them (also a form sent without the box, as the old form was); unticking clears it."""
    alice, _ = pair
    post_id = await _sensitive_post_with_image(client, alice)
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    form = await client.get(f"/web/statuses/{post_id}/edit", headers=HX)
    assert form.status_code == 200 and 'value="spiders"' in form.text
    assert re.search(r'<input[^>]*name="sensitive"[^>]*checked', form.text)

    async def api_view() -> dict:  # type: ignore[type-arg]
        return (await client.get(f"/api/v1/statuses/{post_id}", headers=alice.headers)).json()

    old_form = {"status": "a picture, edited", "spoiler_text": ""}
    saved = await client.post(f"/web/statuses/{post_id}/edit", data=old_form, headers=headers)
    assert saved.status_code == 200, saved.text
    seen = await api_view()
    assert seen["sensitive"] is True and seen["spoiler_text"] == ""
    assert "edited" in seen["content"] and len(seen["media_attachments"]) == 1
    as_shown = {
        "status": "again",
        "spoiler_text": "spiders",
        "sensitive": "on",
        "sensitive_shown": "1",
    }
    await client.post(f"/web/statuses/{post_id}/edit", data=as_shown, headers=headers)
    seen = await api_view()
    assert seen["sensitive"] is True and seen["spoiler_text"] == "spiders"
    unticked = {"status": "fine now", "spoiler_text": "", "sensitive_shown": "1"}
    await client.post(f"/web/statuses/{post_id}/edit", data=unticked, headers=headers)
    seen = await api_view()
    assert seen["sensitive"] is False and seen["spoiler_text"] == ""
