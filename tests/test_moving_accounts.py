"""Leaving with one's data and arriving from Mastodon (issue 16).

The archive: made by its job, its `outbox.json` parses and holds every post as the Note
federation serves, with actor, likes, bookmarks, images and the consent log; only its owner
downloads it; a second request within the week is refused with the date of the next. The
CSV files: exported in Mastodon's exact formats and imported into another account, which then
has the same follows, lists, blocks, mutes, domain blocks and bookmarks (a round trip through
both doors); malformed rows are reported and skipped; overwrite undoes what the file does not
name; a row whose server does not answer waits and says so; files over the limits are refused.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from agora.config import get_settings
from agora.db.models import AccountArchive, Follow, FollowRequest, Job, MediaAttachment, utcnow
from agora.jobs.job_kinds import JobKind
from agora.social.media.files import storage_key
from agora.social.media.storage import media_storage
from agora.social.people import csv_imports
from helpers import HX, boost, follow, post_status, web_sign_in
from test_media_api import png_bytes

AP = "application/activity+json"
FILES = (
    "following_accounts.csv",
    "lists.csv",
    "blocked_accounts.csv",
    "muted_accounts.csv",
    "blocked_domains.csv",
    "bookmarks.csv",
)
KIND_OF = {
    "following_accounts.csv": "following",
    "lists.csv": "lists",
    "blocked_accounts.csv": "blocking",
    "muted_accounts.csv": "muting",
    "blocked_domains.csv": "domain_blocking",
    "bookmarks.csv": "bookmarks",
}


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _archive_world(client: httpx.AsyncClient, make_person: Any) -> dict[str, Any]:
    leaver, other = await make_person("leaver"), await make_person("other")
    h = leaver.headers
    media = await _ok(
        await client.post(
            "/api/v1/media", headers=h, files={"file": ("a.png", png_bytes(), "image/png")}
        )
    )
    posts = [await post_status(client, leaver, "with an image", **{"media_ids[]": media["id"]})]
    posts.append(await post_status(client, leaver, "hello @other", visibility="private"))
    posts.append(await post_status(client, leaver, "a reply", in_reply_to_id=posts[0]["id"]))
    posts.append(await post_status(client, leaver, "secret", visibility="direct"))
    theirs = await post_status(client, other, "something to like")
    boosted = await boost(client, leaver, theirs["id"])
    await _ok(await client.post(f"/api/v1/statuses/{theirs['id']}/favourite", headers=h))
    await _ok(await client.post(f"/api/v1/statuses/{theirs['id']}/bookmark", headers=h))
    await _ok(
        await client.patch(
            "/api/v1/agora/data_reuse", headers=h, json={"syntheticContentGeneration": True}
        )
    )
    return {
        "leaver": leaver,
        "other": other,
        "posts": posts,
        "theirs": theirs,
        "boost": boosted,
        "media": media,
    }


async def test_archive_has_every_post_as_federation_serves_it_and_only_its_owner_gets_it(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    world = await _archive_world(client, make_person)
    leaver, other = world["leaver"], world["other"]
    asked = await _ok(await client.post("/api/v1/agora/archive", headers=leaver.headers), 202)
    assert asked["state"] == "pending" and asked["url"] is None
    again = await client.post("/api/v1/agora/archive", headers=leaver.headers)
    assert again.status_code == 422
    assert "once every 7 days" in again.json()["error"]
    await run_jobs()
    listed = await _ok(await client.get("/api/v1/agora/archive", headers=leaver.headers))
    archive = listed["archives"][0]
    assert archive["state"] == "ready" and archive["size"] > 0
    assert listed["next_request_at"] is not None
    url = archive["url"].removeprefix("http://testserver")

    # only the owner downloads it, through either door
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.get(url)).status_code == 401
    got = await client.get(url, headers=leaver.headers)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    zipped = zipfile.ZipFile(io.BytesIO(got.content))

    outbox = json.loads(zipped.read("outbox.json"))
    assert outbox["type"] == "OrderedCollection"
    creates = [a for a in outbox["orderedItems"] if a["type"] == "Create"]
    announces = [a for a in outbox["orderedItems"] if a["type"] == "Announce"]
    assert outbox["totalItems"] == len(outbox["orderedItems"]) == len(world["posts"]) + 1
    assert [c["object"]["id"].rsplit("/", 1)[1] for c in creates] == [
        p["id"] for p in world["posts"]
    ]
    assert announces[0]["object"].endswith(f"/statuses/{world['theirs']['id']}")
    # the Note is the one federation serves (outbox.note_for), whatever the visibility
    served = await client.get(
        f"/users/leaver/statuses/{world['posts'][0]['id']}", headers={"Accept": AP}
    )
    note = {k: v for k, v in served.json().items() if k != "@context"}
    assert creates[0]["object"] == note
    assert creates[0]["object"]["attachment"][0]["mediaType"].startswith("image/")
    assert creates[2]["object"]["inReplyTo"] == creates[0]["object"]["id"]
    assert creates[1]["object"]["tag"][0]["name"] == "@other"

    actor = json.loads(zipped.read("actor.json"))
    assert actor["id"] == "http://testserver/users/leaver" and actor["publicKey"]["publicKeyPem"]
    theirs_uri = f"http://testserver/users/other/statuses/{world['theirs']['id']}"
    assert json.loads(zipped.read("likes.json"))["orderedItems"] == [theirs_uri]
    assert json.loads(zipped.read("bookmarks.json"))["orderedItems"] == [theirs_uri]
    async with db.session() as session:
        row = await session.get(MediaAttachment, int(world["media"]["id"]))
        key = storage_key(row.key, "original", row.file_format)
    with media_storage().open(key) as stored:
        assert zipped.read(f"media_attachments/{key}") == stored.read()
    reuse = json.loads(zipped.read("agora/data_reuse.json"))
    assert reuse["effective"]["syntheticContentGeneration"] is True
    assert [e["category"] for e in reuse["consent_log"]] == ["syntheticContentGeneration"]

    # the web page shows it ready, with its link for the owner only
    await web_sign_in(client, "other")
    page = f"/settings/export/archives/{archive['id']}.zip"
    assert (await client.get(page)).status_code == 404
    client.cookies.clear()
    await web_sign_in(client, "leaver")
    settings = await client.get("/settings/export")
    assert page in settings.text and "Ready until" in settings.text
    assert "You can ask for your next archive from" in settings.text
    web_zip = await client.get(page)
    assert web_zip.status_code == 200 and web_zip.content == got.content


async def test_second_archive_in_a_week_refused_then_allowed_and_expiry(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    person = await make_person("weekly")
    csrf = await web_sign_in(client, "weekly")
    first = await client.post("/settings/export/archive", data={"csrf": csrf})
    assert first.status_code == 303
    page = await client.get("/settings/export")
    assert "Being made" in page.text and "Request your archive" not in page.text
    await run_jobs()
    refused = await client.post("/settings/export/archive", data={"csrf": csrf})
    assert refused.status_code == 422 and "once every 7 days" in refused.text
    # eight days later: the old one has expired (no download) and a new one may be asked for
    async with db.transaction() as session:
        later = timedelta(days=8)
        archive = await session.scalar(select(AccountArchive))
        await session.execute(
            update(AccountArchive).values(
                requested_at=archive.requested_at - later, expires_at=archive.expires_at - later
            )
        )
    listed = await _ok(await client.get("/api/v1/agora/archive", headers=person.headers))
    assert listed["archives"][0]["state"] == "expired" and listed["next_request_at"] is None
    gone = await client.get(f"/api/v1/agora/archive/{archive.id}/download", headers=person.headers)
    assert gone.status_code == 404
    # the sweep written with the archive, due at its expiry, removes the file; the row stays
    path = get_settings().archive_dir / f"archive-{archive.id}.zip"
    assert path.exists()
    async with db.transaction() as session:
        sweeps = update(Job).where(Job.kind == JobKind.SWEEP_EXPIRED_ARCHIVES)
        assert (await session.execute(sweeps.values(run_at=utcnow()))).rowcount == 1
    await run_jobs()
    assert not path.exists()
    listed = await _ok(await client.get("/api/v1/agora/archive", headers=person.headers))
    assert listed["archives"][0]["state"] == "expired"
    await _ok(await client.post("/api/v1/agora/archive", headers=person.headers), 202)


async def _mastodon_world(client: httpx.AsyncClient, db: Any, make_person: Any) -> Any:
    """`mover` with follows (options set), lists, blocks, mutes, domain blocks, bookmarks."""
    mover = await make_person("mover")
    friends = [await make_person(name) for name in ("ann", "bob", "cy", "dee")]
    pest, noisy = await make_person("pest"), await make_person("noisy")
    h = mover.headers
    for friend in friends:
        await follow(client, mover, friend)
    await _ok(
        await client.post(
            f"/api/v1/accounts/{friends[0].id}/follow",
            headers=h,
            data={"reblogs": "false", "notify": "true"},
        )
    )
    for title, members in (("Work, mostly", friends[:2]), ("Family", friends[1:3])):
        made = await _ok(await client.post("/api/v1/lists", headers=h, data={"title": title}))
        await _ok(
            await client.post(
                f"/api/v1/lists/{made['id']}/accounts",
                headers=h,
                data={"account_ids[]": [m.id for m in members]},
            )
        )
    await _ok(await client.post(f"/api/v1/accounts/{pest.id}/block", headers=h))
    await _ok(
        await client.post(
            f"/api/v1/accounts/{noisy.id}/mute", headers=h, data={"notifications": "false"}
        )
    )
    for domain in ("spam.example", "worse.example"):
        await _ok(await client.post("/api/v1/domain_blocks", headers=h, data={"domain": domain}))
    for friend in friends[:2]:
        post = await post_status(client, friend, f"worth keeping from {friend.username}")
        await _ok(await client.post(f"/api/v1/statuses/{post['id']}/bookmark", headers=h))
    return mover


async def _exports(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    found = {}
    for name in FILES:
        got = await client.get(f"/api/v1/agora/exports/{name}", headers=headers)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        found[name] = got.text
    return found


async def test_exports_are_mastodons_formats_and_import_into_another_account(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    mover = await _mastodon_world(client, db, make_person)
    await run_jobs()
    files = await _exports(client, mover.headers)
    follows = files["following_accounts.csv"].splitlines()
    assert follows[0] == "Account address,Show boosts,Notify on new posts,Languages"
    assert "ann@testserver,false,true," in follows and "bob@testserver,true,false," in follows
    assert sorted(files["lists.csv"].splitlines()) == [
        '"Work, mostly",ann@testserver',
        '"Work, mostly",bob@testserver',
        "Family,bob@testserver",
        "Family,cy@testserver",
    ]
    assert files["blocked_accounts.csv"] == "pest@testserver\n"
    muted = "Account address,Hide notifications\nnoisy@testserver,false\n"
    assert files["muted_accounts.csv"] == muted
    assert sorted(files["blocked_domains.csv"].split()) == ["spam.example", "worse.example"]
    bookmarks = files["bookmarks.csv"].split()
    assert len(bookmarks) == 2 and all("/users/" in b and "/statuses/" in b for b in bookmarks)

    # the web door serves the same files to the signed-in person
    await web_sign_in(client, "mover")
    web = await client.get("/settings/exports/following_accounts.csv")
    assert web.status_code == 200 and web.text == files["following_accounts.csv"]
    assert (await client.get("/settings/exports/passwords.csv")).status_code == 404
    client.cookies.clear()

    arriving = await make_person("arriving")
    for name in FILES:  # follows first: list members must be followed
        started = await _ok(
            await client.post(
                "/api/v1/agora/imports",
                headers=arriving.headers,
                data={"type": KIND_OF[name], "mode": "merge"},
                files={"data": (name, files[name].encode(), "text/csv")},
            ),
            202,
        )
        assert started["state"] == "pending" and started["total_items"] > 0
        await run_jobs()
        done = await _ok(
            await client.get(f"/api/v1/agora/imports/{started['id']}", headers=arriving.headers)
        )
        assert done["state"] == "finished", done
        assert done["failed_items"] == 0 and done["imported_items"] == done["total_items"], done
    again = await _exports(client, arriving.headers)
    for name in FILES:
        assert sorted(again[name].splitlines()) == sorted(files[name].splitlines()), name


async def test_malformed_rows_reported_and_skipped_the_rest_imported(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    importer = await make_person("importer")
    for name in ("one", "two", "three"):
        await make_person(name)
    text = (
        "Account address,Show boosts,Notify on new posts,Languages\n"
        "one@testserver,true,false,\n"
        "not an address!,true,false,\n"
        ",true,false,\n"
        "@two,maybe,false,\n"
        'three,false,false,"en, fr"\n'
        "nobody@testserver,true,false,\n"
    )
    csrf = await web_sign_in(client, "importer")
    sent = await client.post(
        "/settings/import",
        data={"csrf": csrf, "type": "following", "mode": "merge"},
        files={"data": ("following_accounts.csv", text.encode(), "text/csv")},
    )
    assert sent.status_code == 303
    page = await client.get("/settings/import")
    assert "Queued" in page.text and 'hx-trigger="every 3s"' in page.text
    await run_jobs()
    found = (await _ok(await client.get("/api/v1/agora/imports", headers=importer.headers)))[0]
    assert (found["total_items"], found["processed_items"]) == (6, 6)
    assert (found["imported_items"], found["failed_items"]) == (2, 4)
    detail = await _ok(
        await client.get(f"/api/v1/agora/imports/{found['id']}", headers=importer.headers)
    )
    errors = [p["error"] for p in detail["problems"]]
    assert errors == [
        "line 3: 'not an address!' is not an account address",
        "line 4: no account address",
        "line 5: 'maybe' is not true or false",
        "line 7: not found",
    ]
    async with db.session() as session:
        followed = set(
            await session.scalars(
                select(Follow.target_account_id).where(Follow.account_id == importer.id)
            )
        )
    assert len(followed) == 2
    fragment = await client.get("/settings/import", headers=HX)
    assert "line 5: &#39;maybe&#39; is not true or false" in fragment.text
    assert "every 3s" not in fragment.text  # finished: the table stops refreshing


async def test_overwrite_undoes_what_the_file_does_not_name(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    person = await make_person("switcher")
    kept, dropped = await make_person("kept"), await make_person("dropped")
    await make_person("added")
    for target in (kept, dropped):
        await follow(client, person, target)
    for domain in ("old.example", "still.example"):
        await client.post("/api/v1/domain_blocks", headers=person.headers, data={"domain": domain})
    for kind, text in (
        ("following", "kept@testserver\nadded\n"),
        ("domain_blocking", "#domain\nstill.example\nnew.example\n"),
    ):
        await _ok(
            await client.post(
                "/api/v1/agora/imports",
                headers=person.headers,
                data={"type": kind, "mode": "overwrite"},
                files={"data": ("x.csv", text.encode(), "text/csv")},
            ),
            202,
        )
        await run_jobs()
    files = await _exports(client, person.headers)
    assert sorted(files["following_accounts.csv"].splitlines()[1:]) == [
        "added@testserver,true,false,",
        "kept@testserver,true,false,",
    ]
    assert sorted(files["blocked_domains.csv"].split()) == ["new.example", "still.example"]


async def test_rows_on_an_unreachable_server_wait_and_say_so(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    person = await make_person("patient")
    await make_person("here")
    text = "here@testserver\nfar@127.0.0.1:9\n"
    started = await _ok(
        await client.post(
            "/api/v1/agora/imports",
            headers=person.headers,
            data={"type": "blocking"},
            files={"data": ("blocked_accounts.csv", text.encode(), "text/csv")},
        ),
        202,
    )
    await run_jobs()
    found = await _ok(
        await client.get(f"/api/v1/agora/imports/{started['id']}", headers=person.headers)
    )
    assert found["state"] == "waiting", found
    assert (found["imported_items"], found["waiting_items"], found["failed_items"]) == (1, 1, 0)
    assert found["problems"][0]["error"].startswith("line 2: waiting for its server")
    async with db.session() as session:
        job = await session.scalar(select(Job).where(Job.kind == JobKind.RUN_CSV_IMPORT))
        assert job is not None and job.attempts == 0  # postponed, no attempt spent
    # after MAX_TRIES passes the row fails, saying why, and the import ends
    for _ in range(csv_imports.MAX_TRIES - 1):
        async with db.transaction() as session:
            await session.execute(update(Job).values(run_at=job.created_at))
        await run_jobs()
    found = await _ok(
        await client.get(f"/api/v1/agora/imports/{started['id']}", headers=person.headers)
    )
    assert found["state"] == "finished" and found["failed_items"] == 1, found
    assert "did not answer after 5 tries" in found["problems"][0]["error"]


async def test_a_known_remote_account_is_followed_through_federation(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    from agora.db.models import Account, utcnow

    person = await make_person("joiner")
    async with db.transaction() as session:
        remote = Account(
            username="Far",
            username_lower="far@remote.example",
            domain="remote.example",
            uri="https://remote.example/users/far",
            inbox_url="https://remote.example/users/far/inbox",
            created_at=utcnow(),
        )
        session.add(remote)
    text = "Account address,Show boosts,Notify on new posts,Languages\n"
    text += "Far@remote.example,false,true,\n"
    await _ok(
        await client.post(
            "/api/v1/agora/imports",
            headers=person.headers,
            data={"type": "following"},
            files={"data": ("f.csv", text.encode(), "text/csv")},
        ),
        202,
    )
    async with db.session() as session:
        importing = await session.scalar(select(Job).where(Job.kind == JobKind.RUN_CSV_IMPORT))
        assert importing is not None  # written with the import
    await run_jobs()
    async with db.session() as session:
        request = await session.scalar(
            select(FollowRequest).where(FollowRequest.account_id == person.id)
        )
    assert request is not None and request.show_reblogs is False and request.notify is True


async def test_files_refused_whole(client: httpx.AsyncClient, make_person: Any) -> None:
    person = await make_person("refused")

    async def send(kind: str, content: bytes) -> httpx.Response:
        return await client.post(
            "/api/v1/agora/imports",
            headers=person.headers,
            data={"type": kind},
            files={"data": ("x.csv", content, "text/csv")},
        )

    too_many = "".join(f"user{i}@example.com\n" for i in range(csv_imports.MAX_ROWS + 1))
    cases = {
        ("blocking", too_many.encode()): "more than 20000 rows",
        ("blocking", b""): "the file is empty",
        ("blocking", b"\xff\xfe\x00bad"): "not UTF-8",
        ("muting", b"#domain\nspam.example\n"): "not of the chosen type",
        ("nothing", b"a@b.example\n"): "unknown import type",
        ("blocking", b'"unclosed\n'): "not a CSV file",
    }
    for (kind, content), message in cases.items():
        answer = await send(kind, content)
        assert answer.status_code == 422 and message in answer.json()["error"], answer.text
    big = b"a@b.example\n" * (csv_imports.MAX_BYTES // 12 + 1)
    answer = await send("blocking", big)
    assert answer.status_code == 422 and "over 20 MB" in answer.json()["error"]
    listed = await _ok(await client.get("/api/v1/agora/imports", headers=person.headers))
    assert listed == []


async def test_a_batch_of_follows_keeps_every_rule_of_a_follow(
    client: httpx.AsyncClient, db: Any, make_person: Any, run_jobs: Any
) -> None:
    """The batch path (relationships.start_follows): yourself and a block either way are
    refused, a locked account is asked, a follow already there takes the file's options, a
    suspended account is not found, the rest are followed once with their counts."""
    from agora.db.models import Account, utcnow

    me = await make_person("batcher")
    names = ("plain", "blocker", "blocked", "shy", "known", "gone")
    people = {n: await make_person(n, locked=n == "shy") for n in names}
    await follow(client, me, people["known"])
    await client.post(f"/api/v1/accounts/{me.id}/block", headers=people["blocker"].headers)
    await client.post(f"/api/v1/accounts/{people['blocked'].id}/block", headers=me.headers)
    async with db.transaction() as session:
        await session.execute(
            update(Account).where(Account.id == people["gone"].id).values(suspended_at=utcnow())
        )
    text = "Account address,Show boosts,Notify on new posts,Languages\n" + "".join(
        f"{n},false,true,\n" for n in ("batcher", *names, "plain")
    )
    async with db.session(write=True) as session:
        owner = await session.get(Account, me.id)
        await csv_imports.start_import(session, owner, "following", text.encode())
    await run_jobs()
    found = (await _ok(await client.get("/api/v1/agora/imports", headers=me.headers)))[0]
    detail = await _ok(await client.get(f"/api/v1/agora/imports/{found['id']}", headers=me.headers))
    assert [p["error"] for p in detail["problems"]] == [
        "line 2: You cannot follow yourself",
        "line 4: This action is not allowed",
        "line 5: This action is not allowed",
        "line 8: not found",
    ]
    async with db.session() as session:
        follows = {
            f.target_account_id: f
            for f in await session.scalars(select(Follow).where(Follow.account_id == me.id))
        }
        asked = await session.scalar(select(FollowRequest).where(FollowRequest.account_id == me.id))
        mine = await session.get(Account, me.id)
        plain = await session.get(Account, people["plain"].id)
    assert set(follows) == {people["plain"].id, people["known"].id}
    assert not follows[people["known"].id].show_reblogs and follows[people["known"].id].notify
    assert asked is not None and asked.target_account_id == people["shy"].id
    assert mine is not None and mine.following_count == 2
    assert plain is not None and plain.followers_count == 1  # named twice, followed once
