"""Media in an S3-compatible bucket (`AGORA_MEDIA_STORAGE=s3`), against moto's standalone
server (an S3 emulator speaking the real protocol over HTTP, started once for the module):
uploads land in the bucket; Agora checks each fetch and redirects to a presigned URL that
serves the bytes; a followers-only post's image is still refused to strangers; deleting
media removes the objects; a received post's image is cached in the bucket (and removed when
its row is gone); the archive reads images from the bucket; `agora media copy --to
s3` copies a local media directory and resumes; bad keys and missing objects are refused;
`agora backup` says that the bucket is not in the backup.
Storage does not depend on the database: these run in the SQLite pass only."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from agora.cli.main import app as cli
from agora.config import get_settings
from agora.social.media.storage import LocalMediaStorage, media_storage, s3_storage
from conftest import BACKEND
from helpers import follow
from live_server import free_port
from test_media_api import local, png_bytes, uploaded

pytestmark = pytest.mark.skipif(BACKEND == "postgresql", reason="storage: the SQLite pass")
BUCKET = "agora-media"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def on_s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The settings name the bucket; the bucket is emptied afterwards. Yields the client."""
    for name, value in {
        "AGORA_MEDIA_STORAGE": "s3",
        "AGORA_S3_BUCKET": BUCKET,
        "AGORA_S3_ENDPOINT_URL": s3_server,
        "AGORA_S3_ACCESS_KEY_ID": "test",
        "AGORA_S3_SECRET_ACCESS_KEY": "test",
        "AGORA_S3_ADDRESSING_STYLE": "path",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    store = s3_storage()
    yield store.client
    for key in _keys(store.client):
        store.client.delete_object(Bucket=BUCKET, Key=key)
    monkeypatch.undo()
    get_settings.cache_clear()


def _keys(client: Any) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def _follow_the_redirect(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Fetch a media URL from Agora as a client does, then from the bucket."""
    answer = await client.get(local(url))
    assert answer.status_code == 302, answer.text
    assert answer.headers["cache-control"].startswith("private, max-age=")
    return httpx.get(answer.headers["location"])


async def test_uploads_go_to_the_bucket_and_are_served_from_it(
    db: Any, client: httpx.AsyncClient, make_person: Any, on_s3: Any
) -> None:
    alice = await make_person("alice")
    media = await uploaded(client, alice, png_bytes(), name="a.png", mime="image/png")
    keys = _keys(on_s3)
    assert len(keys) == 2 and media["id"] and all(media["url"].split("/")[-2] in k for k in keys)
    stored = media["url"].split("/")[-2]  # this upload's directory: in the bucket, not on disk
    assert not [p for p in Path(get_settings().media_dir).rglob(f"*{stored}*")]
    posted = await client.post(
        "/api/v1/statuses", headers=alice.headers, json={"status": "hi", "media_ids": [media["id"]]}
    )
    url = posted.json()["media_attachments"][0]["url"]
    original = await _follow_the_redirect(client, url)
    assert original.status_code == 200 and original.content.startswith(b"\x89PNG")
    assert original.headers["content-type"] == "image/png"
    head = await client.head(local(url))  # HEAD is answered by Agora from the row
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(original.content)
    # the bucket itself does not serve an unsigned request
    assert httpx.get(f"{get_settings().s3_endpoint_url}/{BUCKET}/{keys[0]}").status_code == 403


async def test_private_media_is_checked_before_the_redirect_and_deletion_empties_the_bucket(
    db: Any, client: httpx.AsyncClient, make_person: Any, on_s3: Any, run_jobs: Any
) -> None:
    alice, bob, eve = await make_person("alice"), await make_person("bob"), await make_person("eve")
    await follow(client, bob, alice)
    media = await uploaded(client, alice, png_bytes(), name="a.png", mime="image/png")
    body = {"status": "friends", "media_ids": [media["id"]], "visibility": "private"}
    posted = await client.post("/api/v1/statuses", headers=alice.headers, json=body)
    status_id = posted.json()["id"]
    bob_view = await client.get(f"/api/v1/statuses/{status_id}", headers=bob.headers)
    bob_url = bob_view.json()["media_attachments"][0]["url"]
    assert (await _follow_the_redirect(client, bob_url)).status_code == 200
    plain = bob_url.split("?")[0]
    assert (await client.get(local(plain))).status_code == 404  # anonymous
    assert (
        await client.get(local(bob_url.replace(f"viewer={bob.id}", f"viewer={eve.id}")))
    ).status_code == 404
    deleted = await client.delete(
        f"/api/v1/statuses/{status_id}?delete_media=true", headers=alice.headers
    )
    assert deleted.status_code == 200
    await run_jobs()
    assert _keys(on_s3) == []
    assert (await client.get(local(bob_url))).status_code == 404


async def test_the_archive_reads_images_from_the_bucket(
    db: Any, client: httpx.AsyncClient, make_person: Any, on_s3: Any, run_jobs: Any
) -> None:
    alice = await make_person("alice")
    media = await uploaded(client, alice, png_bytes(), name="a.png", mime="image/png")
    body = {"status": "keep", "media_ids": [media["id"]]}
    assert (
        await client.post("/api/v1/statuses", headers=alice.headers, json=body)
    ).status_code == 200
    asked = await client.post("/api/v1/agora/archive", headers=alice.headers)
    assert asked.status_code == 202, asked.text
    await run_jobs()
    listed = await client.get("/api/v1/agora/archive", headers=alice.headers)
    url = listed.json()["archives"][0]["url"]
    archive = await client.get(local(url), headers=alice.headers)
    assert archive.status_code == 200, archive.text
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert any(name.endswith(".png") for name in names)


def test_media_copy_puts_a_local_directory_into_the_bucket_and_resumes(
    on_s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_dir = tmp_path / "media"
    disk = LocalMediaStorage(local_dir)
    disk.put("ab/cd/abcd01/original.png", png_bytes())
    disk.put("ab/cd/abcd01/small.png", png_bytes((8, 8)))
    (local_dir / "ab" / ".upload-left-over").write_bytes(b"x")  # never copied
    monkeypatch.setenv("AGORA_MEDIA_DIR", str(local_dir))
    get_settings.cache_clear()
    first = CliRunner().invoke(cli, ["media", "copy", "--to", "s3"])
    assert first.exit_code == 0, first.output
    assert "copied 2 files" in first.output
    assert _keys(on_s3) == ["ab/cd/abcd01/original.png", "ab/cd/abcd01/small.png"]
    again = CliRunner().invoke(cli, ["media", "copy", "--to", "s3"])
    assert "copied 0 files" in again.output
    with media_storage().open("ab/cd/abcd01/original.png") as stored:
        assert stored.read() == png_bytes()
    refused = CliRunner().invoke(cli, ["media", "copy", "--to", "gcs"])
    assert refused.exit_code == 1


def test_missing_objects_and_bad_keys_are_refused(on_s3: Any) -> None:
    store = media_storage()
    with pytest.raises(FileNotFoundError):
        store.open("ff/ff/ffff/original.png")
    store.delete("ff/ff/ffff/original.png")  # a missing key is not an error
    for bad in ("../etc/passwd", "AB/x.png", "a/b", "/abs/x.png"):
        with pytest.raises(ValueError):
            store.put(bad, b"x")
    assert _keys(on_s3) == []


def test_backup_says_the_bucket_is_not_in_it(db: Any, on_s3: Any, tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["backup", str(tmp_path / "backup")])
    assert done.exit_code == 0, done.output
    assert f"s3://{BUCKET}" in done.output and "not in" in done.output


async def test_a_fetched_remote_image_is_cached_in_the_bucket_and_dropped_without_its_row(
    db: Any, on_s3: Any
) -> None:
    from agora.social.media.remote_files import keep_fetched_image, store_fetched_image

    files = await store_fetched_image("ab" * 16, png_bytes())
    assert _keys(on_s3) == sorted(files.keys)
    async with db.session(write=True) as session:
        assert not await keep_fetched_image(session, 123456789, files)  # no such row
    assert _keys(on_s3) == []
