"""Small rules every door shares (issue #13): one id parser and one truthy-flag rule, asked by
the API, the web app, the streams and search alike. Each test sends the same value through
several doors and checks they answer alike; the unit tables pin the rules themselves."""

from __future__ import annotations

import pytest

from agora.ids import MAX_ID, parse_id
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
