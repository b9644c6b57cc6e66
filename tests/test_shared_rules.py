"""Small rules every door shares (issue #13): one id parser and one truthy-flag rule, asked by
the API, the web app, the streams and search alike. Each test sends the same value through
several doors and checks they answer alike; the unit tables pin the rules themselves."""

from __future__ import annotations

import pytest

from agora.ids import MAX_ID, parse_id
from helpers import upload_image
from web_helpers import api_post, post_ids, web_sign_in

# -- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123", 123),
        (123, 123),
        ("0", 0),
        ("000123", 123),
        ("0" * 30 + "123", 123),  # leading zeros do not count towards the 19 digits
        (str(MAX_ID), MAX_ID),
        ("0" * 5 + str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("9" * 20, None),
        ("1" * 5000, None),
        ("", None),
        (None, None),
        (True, None),
        (-1, None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1.0", None),
        ("²", None),
        ("\uff11\uff12", None),  # full-width digits: isdigit() but not ASCII
        (["1"], None),
    ],
)
def test_parse_id_table(raw: object, expected: int | None) -> None:
    assert parse_id(raw) == expected


def _padded(value: str) -> str:
    """The same id with enough leading zeros to pass 19 characters."""
    return value.zfill(25)


async def test_leading_zero_post_id_is_the_same_post_on_the_api_and_the_web(
    client, make_person
) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    post_id = await api_post(client, alice, "zeros")
    padded = _padded(post_id)
    api = await client.get(f"/api/v1/statuses/{padded}")
    assert api.status_code == 200 and api.json()["id"] == post_id
    web = await client.get(f"/@alice/{padded}")
    assert web.status_code == 200
    assert int(post_id) in post_ids(web.text)
    over = str(MAX_ID + 1)
    assert (await client.get(f"/api/v1/statuses/{over}")).status_code == 404
    assert (await client.get(f"/@alice/{over}")).status_code == 404


async def test_leading_zero_cursor_pages_alike_on_the_api_and_the_web(client, make_person) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    first = await api_post(client, alice, "older")
    second = await api_post(client, alice, "newer")
    cursor = _padded(second)
    api = await client.get(f"/api/v1/accounts/{alice.id}/statuses", params={"max_id": cursor})
    assert [s["id"] for s in api.json()] == [first]
    web = await client.get("/@alice", params={"max_id": cursor})
    assert web.status_code == 200
    assert post_ids(web.text) == [int(first)]


async def test_leading_zero_list_id_opens_the_list_stream_as_the_api_reads_the_list(
    client, make_person, db
) -> None:  # type: ignore[no-untyped-def]
    from agora.social.live.streams import StreamViewer, open_stream

    alice = await make_person("alice")
    created = await client.post("/api/v1/lists", json={"title": "friends"}, headers=alice.headers)
    list_id = created.json()["id"]
    padded = _padded(list_id)
    api = await client.get(f"/api/v1/timelines/list/{padded}", headers=alice.headers)
    assert api.status_code == 200
    viewer = StreamViewer(alice.id, None, frozenset({"read"}))
    async with db.session() as session:
        stream = await open_stream(session, viewer, "list", {"list": padded})
    assert stream.key == int(list_id)
    assert stream.label == ("list", list_id)


async def test_leading_zero_id_in_a_web_form_is_read_as_the_api_reads_it(
    client, make_person
) -> None:  # type: ignore[no-untyped-def]
    """The web's "shown" field (the post a boost button is drawn for) takes the same ids."""
    alice = await make_person("alice")
    post_id = await api_post(client, alice, "boost me")
    csrf = await web_sign_in(client, "alice")
    response = await client.post(
        f"/web/statuses/{_padded(post_id)}/favourite",
        data={"csrf": csrf, "shown": _padded(post_id)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    assert f'data-id="{post_id}"' in response.text


# -- truthy flags ----------------------------------------------------------------------------

TRUE_VALUES = ["1", "t", "T", "true", "TRUE", "True", "on", "ON", "yes", "no", "anything", " "]
FALSE_VALUES = [None, "", "0", "f", "F", "false", "FALSE", "False", "off", "OFF", "Off"]


@pytest.mark.parametrize("value", TRUE_VALUES)
def test_flag_is_true_for_everything_but_mastodons_false_words(value: str) -> None:
    from agora.http.params import flag

    assert flag(value) is True


@pytest.mark.parametrize("value", FALSE_VALUES)
def test_flag_is_false_when_missing_empty_or_a_false_word(value: str | None) -> None:
    from agora.http.params import flag

    assert flag(value) is False


DOOR_VALUES = ["1", "t", "TRUE", "yes", "on", "0", "false", "FALSE", "off", ""]


async def _media_post(client, person) -> str:  # type: ignore[no-untyped-def]
    media_id = await upload_image(client, person)
    return await api_post(client, person, "look", **{"media_ids": [media_id]})


async def test_only_media_reads_alike_on_every_door(client, make_person) -> None:  # type: ignore[no-untyped-def]
    """The public timeline, a profile and the SSE streams read `only_media` alike."""
    from agora.api.routes.streaming import sse_stream
    from agora.http.params import flag

    alice = await make_person("alice")
    with_media = await _media_post(client, alice)
    plain = await api_post(client, alice, "no picture")
    for value in DOOR_VALUES:
        expected = [with_media] if flag(value) else [plain, with_media]
        params = {"only_media": value}
        public = await client.get("/api/v1/timelines/public", params=params)
        profile = await client.get(f"/api/v1/accounts/{alice.id}/statuses", params=params)
        assert [s["id"] for s in public.json()] == expected, value
        assert [s["id"] for s in profile.json()] == expected, value
        stream = "public:local:media" if flag(value) else "public:local"
        assert sse_stream("public/local", value) == stream, value


async def test_truthy_flags_read_alike_in_search_and_admin(client, make_person, db) -> None:  # type: ignore[no-untyped-def]
    from agora.http.params import flag
    from agora.social.people.moderation import set_admin

    admin = await make_person("boss", scopes="read write follow push admin:read")
    async with db.session(write=True) as session:
        await set_admin(session, "boss", True)
    bob = await make_person("bobby")
    for value in DOOR_VALUES:
        found = await client.get(
            "/api/v1/accounts/search",
            params={"q": "bobby", "following": value},
            headers=admin.headers,
        )
        assert [a["id"] for a in found.json()] == ([] if flag(value) else [str(bob.id)]), value
        staff = await client.get(
            "/api/v1/admin/accounts", params={"staff": value}, headers=admin.headers
        )
        wanted = {str(admin.id)} if flag(value) else {str(admin.id), str(bob.id)}
        assert {a["id"] for a in staff.json()} == wanted, value


async def test_web_checkbox_reads_a_flag_as_the_api_does(client, make_person) -> None:  # type: ignore[no-untyped-def]
    """A list made exclusive by the web form with "true" (not only a browser's "on") is
    exclusive, as `exclusive=true` makes it through the API."""
    alice = await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    for value in ["on", "true", "1", "false"]:
        made = await client.post(
            "/lists", data={"csrf": csrf, "title": f"l-{value}", "exclusive": value}
        )
        assert made.status_code in (200, 303), made.text
    listed = await client.get("/api/v1/lists", headers=alice.headers)
    assert {x["title"]: x["exclusive"] for x in listed.json()} == {
        "For You": False,  # the ranked feed every account has (docs/RANKING.md)
        "l-on": True,
        "l-true": True,
        "l-1": True,
        "l-false": False,
    }


# -- "public or unlisted" --------------------------------------------------------------------


async def test_public_or_unlisted_sql_and_python_agree(client, make_person, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from agora.db.models import Post, Visibility
    from agora.social.rules.visibility import is_public_or_unlisted, public_or_unlisted

    alice = await make_person("alice")
    for visibility in Visibility:
        await api_post(client, alice, visibility.api_name, visibility=visibility.api_name)
    async with db.session() as session:
        rows = (await session.execute(select(Post.visibility, public_or_unlisted(Post)))).all()
    assert len(rows) == len(Visibility)
    for visibility, in_sql in rows:
        assert bool(in_sql) == is_public_or_unlisted(visibility), visibility
    assert [v for v in Visibility if is_public_or_unlisted(v)] == [
        Visibility.PUBLIC,
        Visibility.UNLISTED,
    ]


def test_public_or_unlisted_is_spelled_once() -> None:
    """No module compares a visibility with UNLISTED itself: they ask the visibility rule."""
    import re
    from pathlib import Path

    import agora

    root = Path(agora.__file__).parent
    open_coded = re.compile(
        r"(<=|>=|<|>)\s*(int\()?Visibility\.UNLISTED|Visibility\.UNLISTED\)?\s*(<=|>=|<|>)"
    )
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).as_posix() != "social/rules/visibility.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if open_coded.search(line)
    ]
    assert found == []


# -- suspension goes through moderation --------------------------------------------------------


def test_only_moderation_suspends_or_silences() -> None:
    """Suspending and silencing are moderation actions: only social/people/moderation.py sets
    `suspended_at` / `silenced_at`, so the moderation log records every one."""
    import re
    from pathlib import Path

    import agora

    root = Path(agora.__file__).parent
    setting = re.compile(r"\b(suspended_at|silenced_at)\s*=(?!=)")
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).parts[0] != "db"  # the schema
        and path.relative_to(root).as_posix() != "social/people/moderation.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if setting.search(line)
    ]
    assert found == []


async def test_suspending_through_the_service_is_logged(make_person, db) -> None:  # type: ignore[no-untyped-def]
    from agora.social.people import moderation

    alice = await make_person("alice")
    async with db.session(write=True) as session:
        await moderation.take_action(session, alice.id, "suspend", by=None)
    async with db.session(write=True) as session:
        await moderation.lift(session, alice.id, "unsuspend", by=None)
    async with db.session() as session:
        logged = [entry.action for entry in await moderation.history(session, alice.id)]
    assert sorted(logged) == ["suspend", "unsuspend"]


# -- public-timeline membership --------------------------------------------------------------

REPLY_SHAPES = ("top", "self_reply", "reply_to_other", "reply_to_unknown_account")


async def test_public_timeline_rule_sql_python_and_streams_agree(db) -> None:  # type: ignore[no-untyped-def]
    """Every combination of visibility, boost and reply shape: the SQL form (the public
    timeline), the Python form, and what the public streams are sent agree."""
    import itertools

    from sqlalchemy import select

    from agora.db.models import Account, Post, Visibility, utcnow
    from agora.social.live.audience import Candidates, post_audience
    from agora.social.reading.public_rule import (
        on_public_timeline,
        post_on_public_timeline,
        public_timeline_rule,
    )
    from agora.social.reading.timelines import public_timeline
    from agora.social.rules.paging import Page

    def account(name: str) -> Account:
        return Account(username=name, username_lower=name, created_at=utcnow(), fields=[])

    def post(author: Account, **values: object) -> Post:
        return Post(
            account_id=author.id, text="x", content_html="<p>x</p>", created_at=utcnow(), **values
        )

    cases: dict[int, tuple[object, ...]] = {}
    async with db.session(write=True) as session:
        author, other = account("author"), account("other")
        session.add_all([author, other])
        await session.flush()
        own, others = post(author, visibility=0), post(other, visibility=0)
        session.add_all([own, others])
        await session.flush()
        parents = {
            "self_reply": (own.id, author.id),
            "reply_to_other": (others.id, other.id),
            "reply_to_unknown_account": (others.id, None),
        }
        for visibility, boost, shape in itertools.product(Visibility, (False, True), REPLY_SHAPES):
            reply_id, reply_account = parents.get(shape, (None, None))
            boosted = post(other, visibility=0)  # one boost per account and post
            session.add(boosted)
            await session.flush()
            case = post(
                author,
                visibility=int(visibility),
                reblog_of_id=boosted.id if boost else None,
                in_reply_to_id=reply_id,
                in_reply_to_account_id=reply_account,
            )
            session.add(case)
            await session.flush()
            cases[case.id] = (visibility, boost, shape)
        await session.commit()
    async with db.session() as session:
        in_sql = set(
            (await session.scalars(select(Post.id).where(public_timeline_rule(Post)))).all()
        )
        timeline = await public_timeline(session, None, Page(limit=200))
        loaded = {p.id: p for p in (await session.scalars(select(Post))).all()}
        streamed = set()
        for post_id in cases:
            audience = await post_audience(session, post_id, Candidates(public={None}))
            if audience is not None and audience.public:
                streamed.add(post_id)
    for post_id, (visibility, boost, shape) in cases.items():
        python = on_public_timeline(
            visibility=visibility,
            is_boost=boost,
            is_reply=shape != "top",
            replies_to_self=shape == "self_reply",
        )
        assert post_on_public_timeline(loaded[post_id]) == python, (visibility, boost, shape)
        assert (post_id in in_sql) == python, (visibility, boost, shape)
        assert (post_id in streamed) == python, (visibility, boost, shape)
        assert (post_id in timeline.items) == python, (visibility, boost, shape)
    expected = {i for i, (v, b, s) in cases.items() if v == 0 and not b and s in REPLY_SHAPES[:2]}
    assert {i for i in cases if i in in_sql} == expected


# -- lists of accounts tied to a person ------------------------------------------------------


async def test_block_and_mute_lists_are_one_rule_on_the_api_and_the_web(
    client, make_person, db
) -> None:  # type: ignore[no-untyped-def]
    """The API's /blocks and /mutes and the web's settings page list the same accounts
    (suspended ones left out), newest first, paged on the block / mute row."""
    from agora.social.people.moderation import take_action

    alice = await make_person("alice")
    others = [await make_person(name) for name in ("bob", "carol", "dave")]
    for person in others:
        await client.post(f"/api/v1/accounts/{person.id}/block", headers=alice.headers)
        await client.post(f"/api/v1/accounts/{person.id}/mute", headers=alice.headers)
    async with db.session(write=True) as session:
        await take_action(session, others[1].id, "suspend", by=None)
    for kind in ("blocks", "mutes"):
        api = await client.get(f"/api/v1/{kind}", headers=alice.headers)
        assert [a["username"] for a in api.json()] == ["dave", "bob"]
        assert "max_id=" in api.headers["Link"]
        older = await client.get(f"/api/v1/{kind}", params={"limit": 1}, headers=alice.headers)
        assert [a["username"] for a in older.json()] == ["dave"]
        cursor = older.headers["Link"].split("max_id=")[1].split(">")[0]
        assert cursor not in (str(p.id) for p in others)  # the row's id, not the account's
    await web_sign_in(client, "alice")
    page = await client.get("/settings/blocks")
    assert page.status_code == 200
    assert "@dave" in page.text and "@bob" in page.text and "@carol" not in page.text
