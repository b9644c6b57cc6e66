"""Streaming in one process: events announced by the jobs after they commit, the hub's
dispatch through the visibility rule to each listener, payload shapes, slow listeners,
revoked tokens, and the HTTP errors of the streaming endpoints.

The hub runs without its background task here: each test pumps the events the jobs
published into `hub.dispatch`, so every effect is deterministic.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from agora.auth.authorised_apps import revoke_app
from agora.config import get_settings
from agora.db.models import AccessToken
from agora.events.event_kinds import (
    AnnouncementEvent,
    ConversationEvent,
    CredentialsEvent,
    DeleteEvent,
    EventName,
    NotificationEvent,
    PostEvent,
)
from agora.events.publishing import publish_after_commit
from agora.http.streaming.hub import Listener
from agora.social.live.streams import StreamRefused, StreamViewer, open_stream, streaming_url
from helpers import follow, make_admin, post_status

READ = frozenset({"read"})


async def received(listener: Listener) -> list[tuple[str, Any]]:
    """(event, payload) of every frame waiting on an SSE listener; JSON payloads decoded."""
    events = []
    while listener.pending():
        frame = await listener.next_frame()
        assert isinstance(frame, bytes) and frame.endswith(b"\n\n")
        head, data = frame.decode().rstrip("\n").split("\n")
        assert head.startswith("event: ") and data.startswith("data: ")
        payload = data.removeprefix("data: ")
        events.append((head.removeprefix("event: "), json.loads(payload)))
    return events


def ids(events: list[tuple[str, Any]], kind: str = "update") -> list[str]:
    return [p["id"] if isinstance(p, dict) else str(p) for e, p in events if e == kind]


async def test_user_and_public_streams_follow_the_visibility_rule(
    client, make_person, run_jobs, harness
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, bob, alice)
    streams = {
        "alice": await harness.listen(alice),
        "bob": await harness.listen(bob),
        "carol": await harness.listen(carol),
        "carol public": await harness.listen(carol, "public"),
        "anon public": await harness.listen(None, "public"),
        "anon local": await harness.listen(None, "public:local"),
        "anon remote": await harness.listen(None, "public:remote"),
    }
    public = await post_status(client, alice, status="hello world")
    unlisted = await post_status(client, alice, status="quiet", visibility="unlisted")
    private = await post_status(client, alice, status="friends only", visibility="private")
    direct = await post_status(client, alice, status="@bob psst", visibility="direct")
    await run_jobs()
    await harness.pump()
    got = {name: ids(await received(listener)) for name, listener in streams.items()}
    everything = [public["id"], unlisted["id"], private["id"], direct["id"]]
    assert got["alice"] == everything  # one's own posts are in one's home
    assert got["bob"] == everything  # a follower (and, for the DM, the mentioned follower)
    assert got["carol"] == []  # a stranger's user stream gets nothing
    for name in ("carol public", "anon public", "anon local"):
        assert got[name] == [public["id"]]  # only public posts, never unlisted or private
    assert got["anon remote"] == []  # no federation: nothing is remote


async def test_blocks_and_mutes_keep_posts_away(client, make_person, run_jobs, harness):
    alice, bob, carol, dave, erin = [
        await make_person(n) for n in ("alice", "bob", "carol", "dave", "erin")
    ]
    for fan in (bob, carol, erin):
        await follow(client, fan, alice)
    for blocks_or_mutes, who, whom in (
        ("block", alice, bob),  # alice blocks bob
        ("mute", carol, alice),
        ("block", dave, alice),
    ):
        r = await client.post(f"/api/v1/accounts/{whom.id}/{blocks_or_mutes}", headers=who.headers)
        assert r.status_code == 200, r.text
    await run_jobs()
    listeners = [
        await harness.listen(bob),
        await harness.listen(bob, "public"),
        await harness.listen(carol),
        await harness.listen(carol, "public"),
        await harness.listen(dave, "public"),
        await harness.listen(dave, "hashtag", tag="news"),
    ]
    # controls: the same streams of a follower who neither blocks nor mutes, and signed out
    controls = [
        await harness.listen(erin),
        await harness.listen(erin, "public"),
        await harness.listen(erin, "hashtag", tag="news"),
        await harness.listen(None, "public"),
        await harness.listen(None, "hashtag", tag="news"),
    ]
    post = await post_status(client, alice, status="#news for everyone")
    await run_jobs()
    await harness.pump()
    for control in controls:
        assert ids(await received(control)) == [post["id"]]
    for listener in listeners:
        assert await received(listener) == []


async def test_wire_shapes(client, make_person, run_jobs, harness):
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    ws_viewer = StreamViewer(bob.id, None, READ)
    ws = harness.hub.connect(ws_viewer, "ws")
    async with harness.db.session() as session:
        for name, params in (("user", {}), ("hashtag", {"tag": "#Python"})):
            harness.hub.subscribe(ws, await open_stream(session, ws_viewer, name, params))
    posted = await post_status(client, alice, status="I like #python")
    await run_jobs()
    await harness.pump()
    frames = [json.loads(await ws.next_frame()) for _ in range(ws.pending())]
    assert sorted(f["stream"] for f in frames) == [["hashtag", "#Python"], ["user"]]
    for frame in frames:
        assert set(frame) == {"stream", "event", "payload"} and frame["event"] == "update"
        assert isinstance(frame["payload"], str)  # a JSON-encoded string, as masto.js needs
        status = json.loads(frame["payload"])
        assert status["id"] == posted["id"] and status["account"]["username"] == "alice"
        assert status["favourited"] is False and "pinned" not in status
    await client.delete(f"/api/v1/statuses/{posted['id']}", headers=alice.headers)
    await run_jobs()
    await harness.pump()
    frames = [json.loads(await ws.next_frame()) for _ in range(ws.pending())]
    assert {(tuple(f["stream"]), f["event"], f["payload"]) for f in frames} == {
        (("user",), "delete", posted["id"]),
        (("hashtag", "#Python"), "delete", posted["id"]),
    }  # the bare id


@pytest.mark.parametrize("scan", [2000, 0])  # marks read by post, or looked up per viewer
async def test_each_listener_sees_only_its_own_marks(
    client, make_person, run_jobs, harness, monkeypatch, scan
):
    monkeypatch.setattr("agora.social.live.streams.MARKS_SCAN", scan)
    alice, bob, carol, dan = [await make_person(n) for n in ("alice", "bob", "carol", "dan")]
    original = await post_status(client, alice, status="boost me")
    for mark in ("favourite", "bookmark"):
        await client.post(f"/api/v1/statuses/{original['id']}/{mark}", headers=bob.headers)
    for fan in (bob, dan):
        await follow(client, fan, carol)
    await run_jobs()
    bob_stream, dan_stream = await harness.listen(bob), await harness.listen(dan)
    r = await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=carol.headers)
    boost = r.json()
    await run_jobs()
    await harness.pump()
    [(_, seen_by_bob)] = await received(bob_stream)
    [(_, seen_by_dan)] = await received(dan_stream)
    assert seen_by_bob["id"] == seen_by_dan["id"] == boost["id"]
    assert seen_by_bob["reblog"]["favourited"] and seen_by_bob["reblog"]["bookmarked"]
    assert not seen_by_dan["reblog"]["favourited"] and not seen_by_dan["reblog"]["bookmarked"]
    await client.post(f"/api/v1/statuses/{original['id']}/unreblog", headers=carol.headers)
    await harness.pump()  # an undone boost is announced when it commits
    assert ids(await received(dan_stream), "delete") == [boost["id"]]


async def test_edits_and_deletes_reach_who_saw_the_post(client, make_person, run_jobs, harness):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, bob, alice)
    private = await post_status(client, alice, status="v1", visibility="private")
    public = await post_status(client, alice, status="#tagged public")
    await run_jobs()
    follower, stranger = await harness.listen(bob), await harness.listen(carol)
    strangers_public = await harness.listen(carol, "public")
    tagged = await harness.listen(None, "hashtag", tag="tagged")
    r = await client.put(
        f"/api/v1/statuses/{private['id']}", headers=alice.headers, data={"status": "v2"}
    )
    assert r.status_code == 200
    await run_jobs()
    await harness.pump()
    [(kind, edited)] = await received(follower)
    assert kind == "status.update" and edited["content"] == "<p>v2</p>" and edited["edited_at"]
    for post in (private, public):
        await client.delete(f"/api/v1/statuses/{post['id']}", headers=alice.headers)
    await run_jobs()
    await harness.pump()
    assert ids(await received(follower), "delete") == [private["id"], public["id"]]
    assert await received(stranger) == []
    assert ids(await received(strangers_public), "delete") == [public["id"]]
    assert ids(await received(tagged), "delete") == [public["id"]]


async def test_the_jobs_announce_each_event_in_its_named_shape(
    client, make_person, run_jobs, harness, db
):
    """Every event the jobs publish is named by `EventName` and has exactly the keys of its
    TypedDict; on the wire (JSON, as through Redis) the name is the plain string."""
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    post = await post_status(client, alice, status="v1")
    await post_status(client, alice, status="@bob psst", visibility="direct")  # `conversation`
    await run_jobs()
    r = await client.put(
        f"/api/v1/statuses/{post['id']}", headers=alice.headers, data={"status": "v2"}
    )
    assert r.status_code == 200
    await run_jobs()
    await client.delete(f"/api/v1/statuses/{post['id']}", headers=alice.headers)
    await run_jobs()
    async with db.session(write=True) as session:  # revoking tokens: `credentials`
        app_id = await session.scalar(
            select(AccessToken.app_id).where(AccessToken.account_id == bob.id)
        )
        await revoke_app(session, bob.id, int(app_id or 0))
    admin = await make_admin(db, make_person, "boss")  # the announcement events
    made = await client.post(
        "/api/v1/admin/announcements", headers=admin.headers, data={"text": "hi"}
    )
    one = f"/api/v1/announcements/{made.json()['id']}"
    assert (await client.put(f"{one}/reactions/👋", headers=alice.headers)).status_code == 200
    await client.delete(f"/api/v1/admin/announcements/{made.json()['id']}", headers=admin.headers)
    shapes = {
        EventName.UPDATE: PostEvent,
        EventName.STATUS_UPDATE: PostEvent,
        EventName.DELETE: DeleteEvent,
        EventName.NOTIFICATION: NotificationEvent,
        EventName.CONVERSATION: ConversationEvent,
        EventName.CREDENTIALS: CredentialsEvent,
        EventName.ANNOUNCEMENT: AnnouncementEvent,
        EventName.ANNOUNCEMENT_REACTION: AnnouncementEvent,
        EventName.ANNOUNCEMENT_DELETE: AnnouncementEvent,
    }
    events = harness.subscription.drain()
    assert {event["event"] for event in events} == set(EventName)
    for event in events:
        assert set(event) == shapes[event["event"]].__required_keys__, event
        wire = orjson.loads(orjson.dumps(event))
        assert type(wire["event"]) is str and wire == {**event, "event": str(event["event"])}


async def test_notifications_need_the_scope(client, make_person, run_jobs, harness):
    alice, bob = await make_person("alice"), await make_person("bob")
    full = await harness.listen(bob)
    only_notes = await harness.listen(bob, "user:notification")
    statuses_only = await harness.listen(bob, scopes=frozenset({"read:statuses"}))
    mention = await post_status(client, alice, status="hi @bob")
    await run_jobs()
    await harness.pump()
    for listener in (full, only_notes):
        [(kind, note)] = await received(listener)
        assert kind == "notification" and note["type"] == "mention"
        assert note["status"]["id"] == mention["id"] and note["account"]["id"] == str(alice.id)
    assert await received(statuses_only) == []


async def test_direct_streams_carry_each_participants_conversation(
    client, make_person, run_jobs, harness
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    bobs, alices, carols = [await harness.listen(p, "direct") for p in (bob, alice, carol)]
    dm = await post_status(client, alice, status="@bob just us", visibility="direct")
    await post_status(client, alice, status="@bob @carol in public")
    await run_jobs()
    await harness.pump()
    [(kind, conversation)] = await received(bobs)
    assert kind == "conversation" and conversation["unread"] is True
    assert conversation["last_status"]["id"] == dm["id"]
    assert [a["id"] for a in conversation["accounts"]] == [str(alice.id)]
    [(kind, own)] = await received(alices)
    assert kind == "conversation" and own["unread"] is False
    assert [a["id"] for a in own["accounts"]] == [str(bob.id)]
    assert await received(carols) == []  # not a participant; public posts are no messages


async def test_high_reach_posts_stream_to_followers(client, make_person, run_jobs, harness):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    for fan in (bob, carol):
        await follow(client, fan, alice)
    await run_jobs()
    settings = get_settings()
    previous, settings.fanout_follower_threshold = settings.fanout_follower_threshold, 1
    try:
        listener = await harness.listen(bob)
        post = await post_status(client, alice, status="to many people")
        await run_jobs()  # not fanned out: merged into home timelines at read time
        await harness.pump()
        assert ids(await received(listener)) == [post["id"]]
    finally:
        settings.fanout_follower_threshold = previous


async def test_nothing_rolled_back_is_announced(db, harness):
    async with db.session(write=True) as session:
        publish_after_commit(session, {"event": "test", "n": 0})  # before any statement
        await session.rollback()
        await session.commit()
        await session.execute(text("SELECT 1"))
        publish_after_commit(session, {"event": "test", "n": 1})
        await session.rollback()
        await session.commit()
    assert harness.subscription.drain() == []
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            publish_after_commit(session, {"event": "test", "n": 2})
            raise RuntimeError("the job failed")
    assert harness.subscription.drain() == []
    async with db.transaction() as session:
        publish_after_commit(session, {"event": "test", "n": 3})
    assert harness.subscription.drain() == [{"event": "test", "n": 3}]


async def test_a_failing_job_announces_nothing(client, make_person, run_jobs, harness, db):
    from dataclasses import replace

    from agora.jobs.queue import SLOW_JOBS

    alice = await make_person("alice")
    listener = await harness.listen(alice)
    original = SLOW_JOBS["distribute_post"]

    async def fail_after_announcing(session: Any, payload: dict[str, Any], prepared: Any) -> None:
        await original.apply(session, payload, prepared)  # announces, then the job fails
        raise RuntimeError("disk full")

    SLOW_JOBS["distribute_post"] = replace(original, apply=fail_after_announcing)
    try:
        await post_status(client, alice, status="doomed attempt")
        await run_jobs()
    finally:
        SLOW_JOBS["distribute_post"] = original
    await harness.pump()
    assert await received(listener) == []
    # control: the same listener hears the next post, whose job succeeds (and only that one:
    # the failed job, due again later, has still announced nothing)
    working = await post_status(client, alice, status="working attempt")
    await run_jobs()
    await harness.pump()
    assert ids(await received(listener)) == [working["id"]]


async def test_a_listener_that_never_reads_is_dropped_not_waited_for(
    client, make_person, run_jobs, harness
):
    alice = await make_person("alice")
    harness.hub.queue_size = 3
    stuck, reader = await harness.listen(None, "public"), await harness.listen(None, "public")
    seen = []
    for n in range(6):
        await post_status(client, alice, status=f"post {n}")
        await run_jobs()
        await harness.pump()
        seen += ids(await received(reader))
    assert len(seen) == 6  # the other listener got everything
    assert stuck.closed.is_set() and "too slow" in stuck.close_reason
    assert stuck not in harness.hub.listeners and stuck.pending() <= 3  # bounded, forgotten


async def test_a_revoked_token_ends_its_streams(client, make_person, harness, db):
    from agora.auth.oauth import authenticate

    alice = await make_person("alice")
    async with db.session() as session:
        creds = await authenticate(session, alice.token)
    viewer = StreamViewer(alice.id, creds.token_id, READ)
    listener = harness.hub.connect(viewer, "ws")
    assert await harness.hub.recheck_tokens() == 0
    r = await client.post(
        "/oauth/revoke",
        data={
            "token": alice.token,
            "client_id": creds.app.client_id,
            "client_secret": creds.app.client_secret,
        },
    )
    assert r.status_code == 200
    assert await harness.hub.recheck_tokens() == 1
    assert listener.closed.is_set() and listener.close_code == 1008


@pytest.mark.parametrize(
    ("name", "params", "scopes", "signed_in", "status", "message"),
    [
        ("nope", {}, READ, True, 400, "Unknown stream type"),
        ("direct", {}, READ, False, 401, "Missing access token"),
        ("direct", {}, frozenset({"read:notifications"}), True, 401, "required scopes"),
        (None, {}, READ, True, 400, "Unknown stream type"),
        ("hashtag", {}, READ, False, 400, "Missing tag name parameter"),
        ("hashtag", {"tag": "#"}, READ, False, 400, "Missing tag name parameter"),
        ("hashtag", {"tag": "x" * 201}, READ, False, 400, "Invalid tag name parameter"),
        ("user", {}, READ, False, 401, "Missing access token"),
        ("user", {}, frozenset({"write"}), True, 401, "required scopes"),
        ("user:notification", {}, frozenset({"read:statuses"}), True, 401, "required scopes"),
        ("list", {}, READ, True, 400, "Missing list name parameter"),
    ],
)
async def test_streams_refused(db, make_person, name, params, scopes, signed_in, status, message):
    person = await make_person("alice") if signed_in else None
    viewer = StreamViewer(person.id, None, scopes) if person else StreamViewer()
    async with db.session() as session:
        with pytest.raises(StreamRefused) as refused:
            await open_stream(session, viewer, name, params)
    assert refused.value.status == status and message in refused.value.message


async def test_streams_allowed_with_the_right_scope(db, make_person):
    alice = await make_person("alice")
    cases = [
        (StreamViewer(), "public", {}),
        (StreamViewer(), "hashtag:local", {"tag": ["Café", "ignored"]}),
        (StreamViewer(alice.id, None, frozenset({"read:statuses"})), "user", {}),
        (StreamViewer(alice.id, None, frozenset({"read:notifications"})), "user:notification", {}),
    ]
    async with db.session() as session:
        opened = [await open_stream(session, v, name, p) for v, name, p in cases]
    assert opened[1].key == "café" and opened[1].label == ("hashtag:local", "Café")
    assert opened[2].key == alice.id


async def test_http_errors_of_the_streaming_endpoints(client, make_person):
    alice = await make_person("alice", scopes="write")
    cases = [
        ("/api/v1/streaming/user", {}, 401, "Missing access token"),
        ("/api/v1/streaming/user?access_token=nope", {}, 401, "Invalid access token"),
        ("/api/v1/streaming/user", {"Authorization": "Bearer nope"}, 401, "Invalid access token"),
        ("/api/v1/streaming/user", alice.headers, 401, "required scopes"),
        ("/api/v1/streaming/hashtag", {}, 400, "Missing tag name parameter"),
        ("/api/v1/streaming/direct", {}, 401, "Missing access token"),
        ("/api/v1/streaming/direct", alice.headers, 401, "required scopes"),
        ("/api/v1/streaming/nowhere", {}, 404, "Not found"),
        ("/api/v1/streaming", {}, 400, "Unknown channel requested"),
    ]
    for path, headers, status, message in cases:
        r = await client.get(path, headers=headers)
        assert r.status_code == status, (path, r.text)
        assert message in r.json()["error"], path


async def test_health_and_the_advertised_streaming_url(client):
    r = await client.get("/api/v1/streaming/health")
    assert r.status_code == 200 and r.text == "OK"
    v1 = (await client.get("/api/v1/instance")).json()
    v2 = (await client.get("/api/v2/instance")).json()
    assert v1["urls"]["streaming_api"] == "ws://testserver"
    assert v2["configuration"]["urls"]["streaming"] == "ws://testserver"
    assert streaming_url("https://social.example/") == "wss://social.example"
    assert streaming_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000"


async def test_list_streams(client, make_person, run_jobs, harness):
    alice, bob, carol, dan = [await make_person(n) for n in ("alice", "bob", "carol", "dan")]
    for member in (bob, carol):
        await follow(client, alice, member)
    r = await client.post(
        "/api/v1/lists", headers=alice.headers, data={"title": "work", "exclusive": "true"}
    )
    list_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/lists/{list_id}/accounts",
        headers=alice.headers,
        data={"account_ids[]": [str(bob.id)]},
    )
    assert r.status_code == 200, r.text
    on_list, home = await harness.listen(alice, "list", list=list_id), await harness.listen(alice)
    in_list = await post_status(client, bob, status="from a member")
    private = await post_status(client, bob, status="members only", visibility="private")
    elsewhere = await post_status(client, carol, status="not on the list")
    await run_jobs()
    await harness.pump()
    assert ids(await received(on_list)) == [in_list["id"], private["id"]]
    assert ids(await received(home)) == [elsewhere["id"]]  # the list is exclusive
    await client.delete(f"/api/v1/statuses/{in_list['id']}", headers=bob.headers)
    await run_jobs()
    await harness.pump()
    assert ids(await received(on_list), "delete") == [in_list["id"]]
    async with harness.db.session() as session:
        for viewer, raw in ((dan, list_id), (alice, "123"), (alice, "x")):
            with pytest.raises(StreamRefused) as refused:  # someone else's, unknown, malformed
                await open_stream(
                    session, StreamViewer(viewer.id, None, READ), "list", {"list": raw}
                )
            assert refused.value.status == 401


async def test_a_silenced_author_reaches_public_streams_of_followers_only(
    client, make_person, run_jobs, harness, db
):
    from agora.social.people.moderation import take_action

    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, bob, alice)
    async with db.session(write=True) as session:
        await take_action(session, alice.id, "silence", by=None)
    follower, stranger = await harness.listen(bob, "public"), await harness.listen(carol, "public")
    anonymous = await harness.listen(None, "public")
    post = await post_status(client, alice, status="limited reach")
    await run_jobs()
    await harness.pump()
    assert ids(await received(follower)) == [post["id"]]
    assert await received(stranger) == [] and await received(anonymous) == []


async def test_media_streams_carry_only_posts_with_attachments(
    client, make_person, run_jobs, harness
):
    import io

    from PIL import Image

    alice = await make_person("alice")
    media_only = await harness.listen(None, "public:media")
    local_media = await harness.listen(None, "public:local:media")
    everything = await harness.listen(None, "public")
    image = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(image, "PNG")
    r = await client.post(
        "/api/v2/media",
        headers=alice.headers,
        files={"file": ("a.png", image.getvalue(), "image/png")},
    )
    assert r.status_code == 200, r.text  # processed before the answer (202: still processing)
    with_media = await post_status(client, alice, status="look", **{"media_ids[]": r.json()["id"]})
    plain = await post_status(client, alice, status="no picture")
    await run_jobs()
    await harness.pump()
    assert ids(await received(media_only)) == [with_media["id"]]
    assert ids(await received(local_media)) == [with_media["id"]]
    assert ids(await received(everything)) == [with_media["id"], plain["id"]]


@pytest.mark.parametrize("threshold", [None, 0], ids=["fan-out", "read-time"])
async def test_a_reply_to_me_from_someone_i_follow_reaches_my_user_stream(
    client, make_person, run_jobs, harness, threshold
):
    """alice follows bob; bob's reply to alice (and to carol, whom she follows) reaches
    alice's `user` stream; his reply to a stranger does not."""
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    for followed in (bob, carol):
        await follow(client, alice, followed)
    mine = await post_status(client, alice, status="question")
    carols = await post_status(client, carol, status="carol's")
    daves = await post_status(client, dave, status="dave's")
    await run_jobs()
    settings = get_settings()
    previous = settings.fanout_follower_threshold
    if threshold is not None:
        settings.fanout_follower_threshold = threshold
    try:
        listener = await harness.listen(alice)
        to_me = await post_status(client, bob, status="answer", in_reply_to_id=mine["id"])
        to_carol = await post_status(client, bob, status="to carol", in_reply_to_id=carols["id"])
        await post_status(client, bob, status="to dave", in_reply_to_id=daves["id"])
        await run_jobs()
        await harness.pump()
        assert ids(await received(listener)) == [to_me["id"], to_carol["id"]]
    finally:
        settings.fanout_follower_threshold = previous


def test_public_posts_go_to_the_local_or_the_remote_public_streams() -> None:
    from agora.social.live.streams import public_streams, tag_streams

    assert public_streams(local=True, media=False) == ("public", "public:local")
    assert public_streams(local=False, media=False) == ("public", "public:remote")
    assert set(public_streams(local=False, media=True)) == {
        "public",
        "public:remote",
        "public:media",
        "public:remote:media",
    }
    assert tag_streams(local=True) == ("hashtag", "hashtag:local")
    assert tag_streams(local=False) == ("hashtag",)


async def test_a_post_event_runs_the_same_statements_for_few_or_many_listeners(
    client, make_person, run_jobs, harness, db
):
    """The hub's statements for an event are built once, the listeners a list parameter: on
    PostgreSQL the very same SQL (one prepared statement each) for 2 listeners as for 6; on
    SQLite the same statements, their IN lists as long as the listeners."""
    import re

    from sqlalchemy import event

    alice = await make_person("alice")
    fans = [await make_person(f"fan{n}") for n in range(6)]
    for fan in fans:
        await follow(client, fan, alice)
    await run_jobs()

    async def statements_of_one_post(listening: list[Any]) -> tuple[list[str], list[Listener]]:
        listeners = [await harness.listen(fan) for fan in listening]
        listeners.append(await harness.listen(fans[0], "public"))
        await post_status(client, alice, status="hello")
        await run_jobs()
        seen: list[str] = []

        def note(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            seen.append(re.sub(r"\(\?(, \?)*\)", "(?)", statement))  # SQLite's IN lists

        event.listen(db.engine.sync_engine, "before_cursor_execute", note)
        try:
            await harness.pump()
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", note)
        return seen, listeners

    few, few_listeners = await statements_of_one_post(fans[:2])
    many, many_listeners = await statements_of_one_post(fans)
    assert len(few) >= 3 and sorted(few) == sorted(many)
    for listener in few_listeners:  # both posts (it still listens for the second one)
        assert [kind for kind, _ in await received(listener)] == ["update", "update"]
    for listener in many_listeners:
        assert [kind for kind, _ in await received(listener)] == ["update"]
