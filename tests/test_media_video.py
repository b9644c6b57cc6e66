"""Video, audio and animated GIFs: real files made by ffmpeg here (1 s, tiny), checked at
upload (422 and nothing stored for a corrupt file or one over a limit), transcoded by the
`transcode_media` job (202, then 206 while processing, then 200), attached to posts only once
done, and sent to and read from other servers with their media type.

The transcoding tests run in the SQLite pass only (ffmpeg is slow on a shared machine); the
first test (the whole 202/206/200 cycle) also runs on PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import Job, Post, utcnow
from agora.federation.media_objects import attachments_json
from helpers import HX, ON_POSTGRES, ffmpeg, web_sign_in
from test_media_api import (  # noqa: F401
    fetch,
    files_on_disk,
    media_dir,
    png_bytes,
    post,
    stored,
    upload,
)

SQLITE_ONLY = pytest.mark.skipif(ON_POSTGRES, reason="ffmpeg tests run in the SQLite pass")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Tiny real files: a WebM with odd dimensions and sound, an MP4 with its index at the end,
    an animated GIF and a WAV."""
    d = tmp_path_factory.mktemp("clips")
    video = ["-f", "lavfi", "-i", "testsrc=size=95x63:rate=10:duration=1"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    ffmpeg(*video, *tone, "-c:v", "libvpx", "-c:a", "libopus", "-shortest", str(d / "a.webm"))
    small = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1"]
    ffmpeg(*small, *tone, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(d / "b.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=40x30:rate=5:duration=1", str(d / "c.gif"))
    ffmpeg(*tone, str(d / "d.wav"))
    return {p.suffix[1:]: p.read_bytes() for p in d.iterdir()}


def probe_streams(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / "probe.bin"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


async def test_video_upload_answers_202_then_206_then_200(
    db, client, make_person, run_jobs, clips, tmp_path
):
    alice, bob = await make_person("alice"), await make_person("bob")
    r = await upload(client, alice, clips["webm"], name="clip.webm", mime="video/webm")
    assert r.status_code == 202, r.text
    media = r.json()
    assert media["type"] == "video" and media["url"] is None and media["preview_url"] is None
    show = f"/api/v1/media/{media['id']}"
    assert (await client.get(show, headers=alice.headers)).status_code == 206
    assert (await client.get(show, headers=bob.headers)).status_code == 404
    early = await post(client, alice, status="too soon", media_ids=[media["id"]])
    assert early.status_code == 422 and "finished processing" in early.json()["error"]

    await run_jobs()
    done = await client.get(show, headers=alice.headers)
    assert done.status_code == 200
    media = done.json()
    assert media["url"].split("?")[0].endswith("/original.mp4")
    meta = media["meta"]
    assert meta["original"]["width"] % 2 == 0 and meta["original"]["height"] % 2 == 0
    assert 0.9 <= meta["duration"] <= 1.2 and meta["fps"] == 10 and meta["length"] == "0:00:01.00"
    assert media["blurhash"] and meta["small"]["width"] > 0
    file = await fetch(client, media["url"])
    assert file.status_code == 200 and file.headers["content-type"] == "video/mp4"
    assert file.content.index(b"moov") < file.content.index(b"mdat")  # faststart
    streams = probe_streams(file.content, tmp_path)
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    poster = await fetch(client, media["preview_url"])
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("image/")

    made = await post(client, alice, status="a clip", media_ids=[media["id"]])
    assert made.status_code == 200, made.text
    attachment = made.json()["media_attachments"][0]
    public_url = media["url"].split("?")[0]  # public now: no per-viewer signature
    assert attachment["type"] == "video" and attachment["url"] == public_url
    assert [p.name for p in files_on_disk()] == ["original.mp4", "small.jpg"]  # source deleted
    async with db.session() as session:  # the Note other servers receive
        note_post = await session.get(Post, int(made.json()["id"]))
        documents = await attachments_json(session, note_post)
    assert [(d["mediaType"], d["url"]) for d in documents] == [("video/mp4", public_url)]


@SQLITE_ONLY
async def test_animated_gif_becomes_a_silent_gifv(
    db, client, make_person, run_jobs, clips, tmp_path
):
    alice = await make_person("alice")
    r = await upload(client, alice, clips["gif"], name="x.gif", mime="image/gif")
    assert r.status_code == 202 and r.json()["type"] == "gifv"
    await run_jobs()
    media = (await client.get(f"/api/v1/media/{r.json()['id']}", headers=alice.headers)).json()
    assert media["type"] == "gifv" and media["url"].split("?")[0].endswith(".mp4")
    streams = probe_streams((await fetch(client, media["url"])).content, tmp_path)
    assert set(streams) == {"video"}


@SQLITE_ONLY
async def test_audio_becomes_mp3_without_a_preview(db, client, make_person, clips, tmp_path):
    alice = await make_person("alice")
    r = await upload(client, alice, clips["wav"], name="x.wav", mime="audio/wav", version=1)
    assert r.status_code == 200, r.text  # v1 waits for the transcoding
    media = r.json()
    assert media["type"] == "audio" and media["preview_url"] is None
    assert media["meta"]["length"] == "0:00:01.00"
    file = await fetch(client, media["url"])
    assert file.headers["content-type"] == "audio/mpeg"
    assert probe_streams(file.content, tmp_path)["audio"]["codec_name"] == "mp3"


@SQLITE_ONLY
@pytest.mark.parametrize("case", ["truncated", "text", "too-long"])
async def test_corrupt_or_too_long_files_are_refused_and_nothing_is_stored(
    db, client, make_person, clips, monkeypatch, case
):
    alice = await make_person("alice")
    data = {
        "truncated": clips["mp4"][: len(clips["mp4"]) // 2],
        "text": b"#EXTM3U\nhttp://127.0.0.1/secret\n" * 10,
        "too-long": clips["mp4"],
    }[case]
    if case == "too-long":
        monkeypatch.setattr(get_settings(), "media_max_duration", 0.5)
    r = await upload(client, alice, data, name="x.mp4", mime="video/mp4")
    assert r.status_code == 422
    message = r.json()["error"]
    assert (
        ("longer than 0.5 seconds" in message)
        if case == "too-long"
        else "not a supported" in message
    )
    assert await stored(db) == 0 and files_on_disk() == []


async def test_without_ffmpeg_a_video_is_refused_clearly(db, client, make_person, monkeypatch):
    monkeypatch.setattr(get_settings(), "media_ffprobe", "/nonexistent/ffprobe")
    alice = await make_person("alice")
    r = await upload(client, alice, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, name="x.mp4")
    assert r.status_code == 422 and "ffmpeg is not installed" in r.json()["error"]
    assert await stored(db) == 0


@SQLITE_ONLY
async def test_a_crashed_transcoding_leaves_no_half_file_and_is_retried(
    db, client, make_person, run_jobs, clips, monkeypatch
):
    alice = await make_person("alice")
    r = await upload(client, alice, clips["mp4"], name="x.mp4", mime="video/mp4")
    assert r.status_code == 202
    monkeypatch.setattr(get_settings(), "media_ffmpeg", "/nonexistent/ffmpeg")
    await run_jobs()
    assert [p.name for p in files_on_disk()] == ["source.upload"]
    show = f"/api/v1/media/{r.json()['id']}"
    assert (await client.get(show, headers=alice.headers)).status_code == 206

    monkeypatch.setattr(get_settings(), "media_ffmpeg", "ffmpeg")
    async with db.session() as session:  # the retry is due now
        await session.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    await run_jobs()
    assert (await client.get(show, headers=alice.headers)).status_code == 200
    assert sorted(p.name for p in files_on_disk()) == ["original.mp4", "small.jpg"]


def test_received_video_and_audio_attachments_are_read_with_their_type():
    from agora.federation.media_objects import read_images

    note = {
        "attachment": [
            {"type": "Document", "mediaType": "video/mp4", "url": "https://a.example/v.mp4"},
            {"type": "Video", "url": "https://a.example/w.webm"},
            {"type": "Audio", "mediaType": "audio/mpeg", "url": "https://a.example/s.mp3"},
            {"type": "Document", "mediaType": "image/png", "url": "https://a.example/i.png"},
            {"type": "Document", "mediaType": "application/pdf", "url": "https://a.example/x"},
        ]
    }
    kinds = [(m.media_type, m.url.rsplit("/", 1)[1]) for m in read_images(note)]
    assert kinds == [
        ("video", "v.mp4"),
        ("video", "w.webm"),
        ("audio", "s.mp3"),
        ("image", "i.png"),
    ]


@SQLITE_ONLY
async def test_web_composer_posts_a_video_and_the_card_plays_it(db, client, make_person, clips):
    await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    files = {"media_0": ("clip.webm", clips["webm"], "video/webm")}
    data = {"status": "a clip", "visibility": "public", "description_0": "a test pattern"}
    made = await client.post(
        "/web/statuses", data=data, files=files, headers={**HX, "X-CSRF-Token": csrf}
    )
    assert made.status_code == 200, made.text
    video = re.search(r"<video [^>]*>", made.text)
    assert video is not None, made.text
    tag = video.group(0)
    assert "controls" in tag and 'preload="none"' in tag and 'poster="' in tag
    assert 'aria-label="a test pattern"' in tag
    src = re.search(r'src="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
    assert src.endswith("/original.mp4") and (await client.get(src)).status_code == 200
    async with db.session() as session:  # transcoded in the request: no job races it
        assert await session.scalar(select(func.count()).where(Job.kind == "transcode_media")) == 0


async def test_media_files_answer_byte_ranges(db, client, make_person):
    """Players seek in a video with Range requests (one image here: the same route)."""
    alice = await make_person("alice")
    made = await upload(client, alice, png_bytes(), name="x.png", mime="image/png")
    url = made.json()["url"]
    whole = await fetch(client, url)
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    part = await fetch(client, url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    tail = await fetch(client, url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == whole.content[-5:]
    outside = await fetch(client, url, headers={"Range": f"bytes={size}-"})
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{size}"
