"""Media with a real client: Mastodon.py uploads images to `agora serve` (`media_post`),
attaches them (`status_post(media_ids=...)`), edits alt text (`media_update`,
`status_update(media_attributes=...)`), and the files are fetched over HTTP as apps do,
without an Authorization header."""

from __future__ import annotations

import io

import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError
from PIL import Image

from live_server import LiveServer, wait_for

PASSWORD = "correct horse battery"


def _client(server: LiveServer, keys: tuple[str, str], name: str) -> Mastodon:
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True)
    return api


@pytest.fixture(scope="module")
def people(server: LiveServer) -> tuple[Mastodon, Mastodon]:
    keys = Mastodon.create_app("agora media tests", api_base_url=server.url)
    return _client(server, keys, "alice"), _client(server, keys, "bob")


def _photo() -> bytes:
    image = Image.new("RGB", (300, 200), (20, 120, 220))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_upload_attach_and_fetch_with_mastodon_py(
    server: LiveServer, people: tuple[Mastodon, Mastodon]
) -> None:
    alice = people[0]
    media = alice.media_post(_photo(), mime_type="image/jpeg", description="a blue sky")
    assert media.type == "image" and media.url and media.blurhash
    assert media.meta.original.width == 300 and media.meta.small.height == 200
    assert alice.media(media).description == "a blue sky"
    updated = alice.media_update(media, description="a clear blue sky", focus=(0.5, 0.5))
    assert updated.description == "a clear blue sky" and updated.meta.focus.x == 0.5
    second = alice.media_post(_photo(), mime_type="image/png", description="again")

    status = alice.status_post("two pictures", media_ids=[media, second])
    assert [m.id for m in status.media_attachments] == [media.id, second.id]
    with httpx.Client() as http:
        got = http.get(status.media_attachments[0].url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        assert not Image.open(io.BytesIO(got.content)).getexif()  # GPS gone
        assert http.get(status.media_attachments[0].preview_url).status_code == 200

    # the same media cannot go into a second post
    with pytest.raises(MastodonAPIError):
        alice.status_post("again?", media_ids=[media])

    # (Mastodon.py cannot combine media_ids with media_attributes; the attributes name all)
    edited = alice.status_update(
        status,
        "two pictures, described",
        media_attributes=[
            alice.generate_media_edit_attributes(media),
            alice.generate_media_edit_attributes(second, description="second"),
        ],
    )
    assert [m.description for m in edited.media_attachments] == ["a clear blue sky", "second"]


def test_followers_only_media_over_http(
    server: LiveServer, people: tuple[Mastodon, Mastodon]
) -> None:
    alice, bob = people[:2]
    bob.account_follow(alice.me())
    media = alice.media_post(_photo(), mime_type="image/jpeg", description="for friends")
    post = alice.status_post("friends only", media_ids=[media], visibility="private")
    seen = wait_for(
        lambda: [s for s in bob.timeline_home() if s.id == post.id],
        what="the post in bob's home timeline",
    )
    url = seen[0].media_attachments[0].url
    with httpx.Client() as http:
        assert http.get(url).status_code == 200  # bob's client fetches without a token
        assert http.get(url.split("?")[0]).status_code == 404  # the bare path is not enough
        bob.account_unfollow(alice.me())
        assert http.get(url).status_code == 404  # no longer his to see


def test_avatar_and_header_with_mastodon_py(
    server: LiveServer, people: tuple[Mastodon, Mastodon]
) -> None:
    alice = people[0]
    me = alice.account_update_credentials(
        display_name="Alice with a face",
        avatar=_photo(),
        avatar_mime_type="image/jpeg",
        header=_photo(),
        header_mime_type="image/jpeg",
    )
    assert me.display_name == "Alice with a face" and "/media/profile/" in me.avatar
    with httpx.Client() as http:
        for url, size in ((me.avatar_static, (400, 400)), (me.header, (1500, 500))):
            fetched = http.get(url)
            assert fetched.status_code == 200
            image = Image.open(io.BytesIO(fetched.content))
            assert image.size == size and not image.getexif()  # no GPS left
    with pytest.raises(MastodonAPIError):
        alice.account_update_credentials(avatar=b"not an image", avatar_mime_type="image/png")
    assert alice.me().avatar == me.avatar
