"""Everything a client can send wrong gets a 4xx with a Mastodon-style `{"error": "..."}` body
and changes nothing. Also the regression tests for what schemathesis found
(tests/test_schema_fuzz.py) and for the 500s found while reading the input paths."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.config import get_settings
from agora.http.params import nest
from helpers import post_status

TOO_BIG_ID = str(2**63)  # one past the largest 64-bit id
BAD_IDS = ("abc", "-1", "1.5", "0x10", TOO_BIG_ID, "9" * 5000, "²", "٣")


def assert_error(r: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    """`r` is a `status` answer whose body is JSON with a string `error` (equal to `error`)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    if error is not None:
        assert body["error"] == error, body
    return body


async def statuses_of(client: httpx.AsyncClient, person: Any) -> tuple[int, list[str]]:
    """(statuses_count, ids on the profile timeline): both stay put when nothing was posted."""
    me = await client.get("/api/v1/accounts/verify_credentials", headers=person.headers)
    listed = await client.get(f"/api/v1/accounts/{person.id}/statuses", headers=person.headers)
    return me.json()["statuses_count"], [s["id"] for s in listed.json()]


async def send_status(
    client: httpx.AsyncClient, person: Any, data: dict[str, Any], as_json: bool
) -> httpx.Response:
    if as_json:
        return await client.post("/api/v1/statuses", headers=person.headers, json=data)
    return await client.post("/api/v1/statuses", headers=person.headers, data=data)


# --- post validation -------------------------------------------------------------------------

URL = "https://example.com/" + "a" * 200  # counts as 23 characters whatever its length

INVALID_STATUSES = {
    "too long": {"status": "x" * 501},
    "too long with a URL counted as 23": {"status": "x" * 477 + " " + URL},
    "too long with the content warning": {"status": "x" * 490, "spoiler_text": "y" * 11},
    "empty": {"status": ""},
    "missing": {"spoiler_text": "no text"},
    "whitespace only": {"status": " \n\t\u00a0 "},
    "unknown visibility": {"status": "hi", "visibility": "friends"},
    "bad language": {"status": "hi", "language": "x"},
    "media (not supported yet)": {"status": "hi", "media_ids": ["1"]},
}


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
@pytest.mark.parametrize("data", INVALID_STATUSES.values(), ids=INVALID_STATUSES.keys())
async def test_invalid_status_is_422_and_creates_nothing(client, make_person, data, as_json):
    alice = await make_person("alice")
    r = await send_status(client, alice, data, as_json)
    assert_error(r, 422)
    assert await statuses_of(client, alice) == (0, [])


async def test_length_limits_are_inclusive(client, make_person):
    alice = await make_person("alice")
    await post_status(client, alice, status="x" * 500)
    await post_status(client, alice, status="x" * 476 + " " + URL)  # 476 + 1 + 23 = 500
    assert (await statuses_of(client, alice))[0] == 2


async def test_idempotency_key_too_long(client, make_person):
    alice = await make_person("alice")
    headers = {**alice.headers, "Idempotency-Key": "k" * 201}
    r = await client.post("/api/v1/statuses", headers=headers, data={"status": "hi"})
    assert_error(r, 422)
    assert await statuses_of(client, alice) == (0, [])


# --- reply and quote targets ----------------------------------------------------------------


async def test_reply_to_a_post_you_cannot_see_is_404(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    secret = await post_status(client, alice, status="followers only", visibility="private")
    for field in ("in_reply_to_id", "quoted_status_id"):
        r = await send_status(client, bob, {"status": "hm", field: secret["id"]}, as_json=False)
        assert_error(r, 404)
    assert await statuses_of(client, bob) == (0, [])
    shown = await client.get(f"/api/v1/statuses/{secret['id']}", headers=alice.headers)
    assert shown.json()["replies_count"] == 0
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await post_status(
        client, bob, status="now I can", in_reply_to_id=secret["id"]
    )  # visibility, not ids


@pytest.mark.parametrize("field", ["in_reply_to_id", "quoted_status_id"])
async def test_bad_reply_or_quote_ids_are_404(client, make_person, field):
    alice = await make_person("alice")
    for value in (*BAD_IDS, "123456"):
        for as_json in (False, True):
            r = await send_status(client, alice, {"status": "hi", field: value}, as_json)
            assert_error(r, 404)
    r = await send_status(client, alice, {"status": "hi", field: 2**64}, as_json=True)
    assert_error(r, 404)  # a JSON number is read as the id it spells, and is out of range
    assert await statuses_of(client, alice) == (0, [])


async def test_json_numbers_are_accepted_as_ids(client, make_person):
    """Rails reads `"in_reply_to_id": 123` as the string "123"; this used to be a 422."""
    alice = await make_person("alice")
    parent = await post_status(client, alice, status="parent")
    data = {"status": "child", "in_reply_to_id": int(parent["id"])}
    r = await send_status(client, alice, data, as_json=True)
    assert r.status_code == 200 and r.json()["in_reply_to_id"] == parent["id"], r.text


# --- ids in the path --------------------------------------------------------------------------

PATH_ID_ROUTES = [
    ("GET", "/api/v1/statuses/{}"),
    ("PUT", "/api/v1/statuses/{}"),
    ("DELETE", "/api/v1/statuses/{}"),
    ("GET", "/api/v1/statuses/{}/context"),
    ("POST", "/api/v1/statuses/{}/favourite"),
    ("POST", "/api/v1/statuses/{}/reblog"),
    ("GET", "/api/v1/accounts/{}"),
    ("GET", "/api/v1/accounts/{}/statuses"),
    ("POST", "/api/v1/accounts/{}/follow"),
    ("POST", "/api/v1/accounts/{}/mute"),
    ("GET", "/api/v1/notifications/{}"),
    ("POST", "/api/v1/follow_requests/{}/authorize"),
]


@pytest.mark.parametrize(("method", "path"), PATH_ID_ROUTES)
async def test_bad_path_ids_are_404(client, make_person, method, path):
    alice = await make_person("alice")
    for value in BAD_IDS:
        data = {"status": "x"} if method in ("PUT", "POST") else None
        r = await client.request(method, path.format(value), headers=alice.headers, data=data)
        assert_error(r, 404, "Record not found")


async def test_unicode_digits_are_not_ids(client, make_person):
    """ "٣" is a digit to Python's int(), so it read as post 3; "²" made int() raise (a 500,
    found by schemathesis)."""
    alice = await make_person("alice")
    s = await post_status(client, alice, status="hi")
    arabic = "".join(chr(0x660 + int(d)) for d in s["id"])  # the same id in Arabic-Indic digits
    assert_error(await client.get(f"/api/v1/statuses/{arabic}"), 404)
    assert_error(await client.post("/api/v1/statuses/²/unreblog", headers=alice.headers), 404)
    r = await client.get("/api/v1/accounts/relationships?id[]=²&id[]=٣", headers=alice.headers)
    assert r.status_code == 200 and r.json() == []


# --- paging -----------------------------------------------------------------------------------


async def test_limit_out_of_range_is_clamped(client, make_person):
    """As Mastodon: a limit above the maximum gives the maximum (40 posts), and below 1 gives
    one (Mastodon takes the absolute value; 0 would page forever)."""
    alice = await make_person("alice")
    for i in range(41):
        await post_status(client, alice, status=f"post {i}")
    url = f"/api/v1/accounts/{alice.id}/statuses"
    for limit, expected in (("1000", 40), ("41", 40), ("0", 1), ("-1", 1), ("3", 3), ("", 20)):
        r = await client.get(url, params={"limit": limit})
        assert r.status_code == 200 and len(r.json()) == expected, (limit, r.text)


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=1.5", "limit=1e3", "max_id=abc", "since_id=-1", f"min_id={TOO_BIG_ID}"],
)
async def test_non_numeric_paging_is_422(client, make_person, query):
    alice = await make_person("alice")
    for path in ("/api/v1/timelines/home", "/api/v1/timelines/public", "/api/v1/notifications"):
        assert_error(await client.get(f"{path}?{query}", headers=alice.headers), 422)


# --- malformed bodies -------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
MALFORMED = {
    "truncated JSON": ("application/json", b'{"status": "hi"', 400),
    "JSON that is not an object": ("application/json", b'["status", "hi"]', 422),
    "JSON null": ("application/json", b"null", 422),
    "deeply nested JSON": ("application/json", b"[" * 100_000, 400),
    "JSON with a wrong type": ("application/json", b'{"status": {"a": 1}}', 422),
    "JSON without a content type": ("", b'{"status": "hi",}', 400),
    "form that is not UTF-8": (FORM, b"status=\xff\xfe", 400),
    "form with a list for text": (FORM, b"status[]=a&status[]=b", 422),
    "form with a nested key": (FORM, b"status[x][y]=1", 422),
    "form with a non-boolean": (FORM, b"status=a&sensitive=maybe", 422),
    "multipart without boundary": ("multipart/form-data", b"status=hi", 400),
    "JSON with a null byte": ("application/json", b'{"status": "a\\u0000b"}', 400),
    "form with a null byte": (FORM, b"status=a%00b", 400),
}


@pytest.mark.parametrize(("ctype", "content", "status"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_body_is_4xx_and_creates_nothing(
    client, make_person, ctype, content, status
):
    alice = await make_person("alice")
    headers = {**alice.headers, **({"Content-Type": ctype} if ctype else {})}
    r = await client.post("/api/v1/statuses", headers=headers, content=content)
    assert_error(r, status)
    assert await statuses_of(client, alice) == (0, [])


async def test_deeply_nested_parameters_are_400(client, make_person):
    """A form key with thousands of brackets, or JSON nested a thousand deep, blew Python's
    recursion limit wherever the value was walked or printed (a 500)."""
    alice = await make_person("alice")
    deep_key = "types[]" + "[a]" * 3000
    r = await client.get("/api/v1/notifications", params={deep_key: "1"}, headers=alice.headers)
    assert_error(r, 400)
    deep_json = b'{"status": "hi", "spoiler_text": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    headers = {**alice.headers, "Content-Type": "application/json"}
    assert_error(await client.post("/api/v1/statuses", headers=headers, content=deep_json), 400)
    assert await statuses_of(client, alice) == (0, [])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ab[]0 ", max_size=8), st.text(max_size=3))))
def test_nesting_form_keys_never_raises(pairs):
    """Whatever brackets a form uses, parsing gives a dict (the model then accepts or 422s)."""
    assert isinstance(nest(pairs), dict)


# --- oversized bodies -------------------------------------------------------------------------


async def _chunks(total: int):
    yield b"status="
    for _ in range(total // 65536 + 1):
        yield b"x" * 65536


@pytest.mark.parametrize("how", ["declared", "streamed"])
async def test_oversized_body_is_413_and_creates_nothing(client, make_person, how):
    alice = await make_person("alice")
    limit = get_settings().max_body_bytes
    if how == "declared":
        data = {"status": "x" * limit}
        r = await client.post("/api/v1/statuses", headers=alice.headers, data=data)
    elif how == "streamed":  # no Content-Length: counted while read
        headers = {**alice.headers, "Content-Type": FORM}
        r = await client.post("/api/v1/statuses", headers=headers, content=_chunks(limit))
        assert "content-length" not in r.request.headers
    assert_error(r, 413, "Request entity too large")
    assert await statuses_of(client, alice) == (0, [])


async def test_oversized_error_has_cors_headers(client, make_person):
    """A web client must be able to read the 413, so the guard sits inside CORS."""
    alice = await make_person("alice")
    headers = {**alice.headers, "Origin": "https://elk.example"}
    big = {"status": "x" * get_settings().max_body_bytes}
    r = await client.post("/api/v1/statuses", headers=headers, data=big)
    assert_error(r, 413)
    assert r.headers["access-control-allow-origin"] == "*"


async def test_body_limits_are_configurable(db, make_person):
    """`max_body_bytes` bounds JSON and forms, `max_upload_bytes` multipart (media uploads)."""
    from agora.app import create_app
    from agora.config import Settings

    app = create_app(Settings(max_body_bytes=100, max_upload_bytes=1000), migrate=False)
    app.state.db = db
    alice = await make_person("alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:

        async def send(headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
            return await c.post(
                "/api/v1/statuses", headers={**alice.headers, **(headers or {})}, **kw
            )

        assert_error(await send(data={"status": "x" * 101}), 413)
        assert_error(await send(json={"status": "x" * 101}), 413)
        assert (await send(data={"status": "x" * 50})).status_code == 200
        assert (await send(files={"status": (None, "x" * 200)})).status_code == 200
        assert_error(await send(files={"status": (None, "x" * 1000)}), 413)
        assert_error(await send(content=_chunks(2000), headers={"Content-Type": FORM}), 413)
        assert (await statuses_of(c, alice))[0] == 2


# --- tokens and scopes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer "}, {"Authorization": "x"}],
    ids=["missing", "unknown", "empty", "not bearer"],
)
async def test_missing_or_bad_token_is_401(client, make_person, headers):
    alice = await make_person("alice")
    r = await client.post("/api/v1/statuses", headers=headers, data={"status": "hi"})
    assert_error(r, 401)
    assert_error(await client.get("/api/v1/timelines/home", headers=headers), 401)
    assert_error(await client.get("/api/v1/accounts/verify_credentials", headers=headers), 401)
    assert await statuses_of(client, alice) == (0, [])


async def test_token_without_the_scope_is_403(client, make_person):
    reader = await make_person("reader", scopes="read")
    writer = await make_person("writer", scopes="write")
    s = await post_status(client, writer, status="hi")
    url = f"/api/v1/statuses/{s['id']}"
    r = await client.post("/api/v1/statuses", headers=reader.headers, data={"status": "no"})
    assert_error(r, 403)
    assert_error(await client.post(f"{url}/favourite", headers=reader.headers), 403)
    assert_error(await client.delete(url, headers=reader.headers), 403)
    r = await client.post(f"/api/v1/accounts/{writer.id}/follow", headers=reader.headers)
    assert_error(r, 403)
    assert_error(await client.get("/api/v1/timelines/home", headers=writer.headers), 403)
    shown = (await client.get(url)).json()
    assert shown["favourites_count"] == 0
    assert await statuses_of(client, reader) == (0, [])


# --- someone else's post ----------------------------------------------------------------------


async def test_editing_or_deleting_someone_elses_post(client, make_person):
    """403 for a post the caller can see, 404 for one it cannot (its existence stays hidden).
    Both leave the post as it was."""
    alice, bob = await make_person("alice"), await make_person("bob")
    public = await post_status(client, alice, status="public")
    private = await post_status(client, alice, status="private", visibility="private")
    for target, text, status in ((public, "public", 403), (private, "private", 404)):
        url = f"/api/v1/statuses/{target['id']}"
        assert_error(await client.put(url, headers=bob.headers, data={"status": "mine"}), status)
        assert_error(await client.delete(url, headers=bob.headers), status)
        source = await client.get(f"{url}/source", headers=alice.headers)
        assert source.json()["text"] == text
    assert (await statuses_of(client, alice))[0] == 2


async def test_editing_a_deleted_post_or_a_boost_is_404(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="soon gone")
    url = f"/api/v1/statuses/{s['id']}"
    boost = (await client.post(f"{url}/reblog", headers=bob.headers)).json()
    r = await client.put(
        f"/api/v1/statuses/{boost['id']}", headers=bob.headers, data={"status": "x"}
    )
    assert_error(r, 404)
    await client.delete(url, headers=alice.headers)
    assert_error(await client.delete(url, headers=alice.headers), 404)
    assert_error(await client.put(url, headers=alice.headers, data={"status": "x"}), 404)
    assert (await statuses_of(client, alice))[0] == 0


# --- OAuth ------------------------------------------------------------------------------------


async def _app(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post("/api/v1/apps", data={"client_name": "t", "scopes": "read write"})
    assert r.status_code == 200, r.text
    return r.json()


async def test_bad_token_requests_get_oauth_errors(client, make_person):
    await make_person("alice")
    app = await _app(client)
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    client_grant = {"grant_type": "client_credentials"}
    cases = [
        ({**creds, "grant_type": "magic"}, 400, "unsupported_grant_type"),
        ({**creds}, 400, "unsupported_grant_type"),
        (client_grant, 401, "invalid_client"),
        ({**client_grant, "client_id": app["client_id"]}, 401, "invalid_client"),
        ({**creds, **client_grant, "client_secret": "wrong"}, 401, "invalid_client"),
        ({**creds, "grant_type": "authorization_code", "code": "nope"}, 400, "invalid_grant"),
        ({**creds, "grant_type": "password", "username": "alice"}, 400, "invalid_grant"),
        ({**creds, **client_grant, "scope": "admin:write"}, 400, "invalid_scope"),
    ]
    for form, status, error in cases:
        body = assert_error(await client.post("/oauth/token", data=form), status, error)
        assert isinstance(body.get("error_description"), str), body
    json_header = {"Content-Type": "application/json"}
    assert_error(await client.post("/oauth/token", content=b"{", headers=json_header), 400)
    assert_error(await client.post("/oauth/revoke", data={"token": "x"}), 401, "invalid_client")


async def test_bad_app_registrations_are_422(client):
    for form in (
        {},
        {"client_name": ""},
        {"client_name": "x", "redirect_uris": "not a uri"},
        {"client_name": "x", "scopes": "read launch:missiles"},
        {"client_name": "x", "website": "https://example.com/" + "a" * 600},  # was 500 on PG
    ):
        assert_error(await client.post("/api/v1/apps", data=form), 422)


async def test_overlong_pkce_challenge_is_refused_before_sign_in(client, make_person):
    """A code challenge longer than RFC 7636 allows went into a 200-character column (a 500
    on PostgreSQL once the person had signed in); the page now refuses it up front."""
    await make_person("alice")
    app = await _app(client)
    params = {
        "client_id": app["client_id"],
        "response_type": "code",
        "code_challenge": "c" * 300,
        "code_challenge_method": "plain",
    }
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 400 and "128" in page.text
    signed_in = {**params, "username": "alice", "password": "correct horse battery"}
    r = await client.post("/oauth/authorize", data=signed_in)
    assert r.status_code == 400 and "location" not in r.headers


# --- routes and methods -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nothing"),
        ("POST", "/api/v2/nothing"),
        ("GET", "/api/v1/statuses/1/nothing"),
        ("DELETE", "/api/v1/accounts/1/nothing"),
        ("GET", "/api/v3/instance"),
    ],
)
async def test_unknown_route_is_404_record_not_found(client, method, path):
    assert_error(await client.request(method, path), 404, "Record not found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/timelines/home", "GET"),
        ("PUT", "/api/v1/apps", "POST"),
        ("GET", "/oauth/token", "POST"),
        ("PATCH", "/api/v1/statuses/1", "GET"),
    ],
)
async def test_wrong_method_is_405_with_allow(client, make_person, method, path, allowed):
    alice = await make_person("alice")
    r = await client.request(method, path, headers=alice.headers)
    assert_error(r, 405)
    assert allowed in r.headers["allow"]


# --- null bytes, and values too long for their columns (500s on PostgreSQL) --------------------


@pytest.mark.parametrize(
    "url",
    [
        "/.well-known/webfinger?resource=%00",  # found by schemathesis
        "/api/v1/accounts/lookup?acct=a%00b",
        "/api/v1/timelines/tag/a%00b",
        "/api/v1/timelines/public?max_id=%00",
        "/api/v1/accounts/1/statuses?tagged=%00",
    ],
)
async def test_null_byte_in_url_is_400(client, make_person, url):
    alice = await make_person("alice")
    assert_error(await client.get(url, headers=alice.headers), 400)


async def test_null_bytes_in_bodies_change_nothing(client, make_person):
    alice = await make_person("alice")
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        json={"display_name": "a\u0000b", "note": "fine"},
    )
    assert_error(r, 400)
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert me["display_name"] == "" and me["note"] == ""
    assert_error(await client.post("/api/v1/apps", json={"client_name": "x\u0000"}), 400)


async def test_overlong_email_at_sign_up_is_422(client):
    app = await _app(client)
    grant = {"grant_type": "client_credentials", "scope": "write"}
    grant.update(client_id=app["client_id"], client_secret=app["client_secret"])
    token = (await client.post("/oauth/token", data=grant)).json()["access_token"]
    form = {
        "username": "newbie",
        "email": "a" * 400 + "@example.org",
        "password": "correct horse battery",
        "agreement": "true",
    }
    headers = {"Authorization": f"Bearer {token}"}
    assert_error(await client.post("/api/v1/accounts", data=form, headers=headers), 422)
    found = await client.get("/api/v1/accounts/lookup", params={"acct": "newbie"})
    assert found.status_code == 404


async def test_bad_marker_ids_are_422(client, make_person):
    """last_read_id went unchecked into a 30-character column (a 500 on PostgreSQL)."""
    alice = await make_person("alice")
    for value in ("1" * 40, "²", "abc"):
        data = {"home[last_read_id]": value}
        assert_error(await client.post("/api/v1/markers", headers=alice.headers, data=data), 422)
    assert (await client.get("/api/v1/markers", headers=alice.headers)).json() == {}


async def test_overlong_mute_duration_is_422(client, make_person):
    """A duration of a million years overflowed the date computation (a 500)."""
    alice, bob = await make_person("alice"), await make_person("bob")
    url = f"/api/v1/accounts/{bob.id}/mute"
    for duration in (10**12, 10**40, -5):
        r = await client.post(url, headers=alice.headers, json={"duration": duration})
        assert_error(r, 422)
    assert (await client.get("/api/v1/mutes", headers=alice.headers)).json() == []


async def test_profile_field_keys_that_are_not_numbers(client, make_person):
    """fields_attributes[²][name] made int() raise while ordering the fields (a 500)."""
    alice = await make_person("alice")
    data = {"fields_attributes[²][name]": "a", "fields_attributes[²][value]": "b"}
    r = await client.patch("/api/v1/accounts/update_credentials", headers=alice.headers, data=data)
    assert r.status_code == 200 and r.json()["fields"][0]["name"] == "a", r.text


async def test_web_post_page_with_bad_ids_is_404(client, make_person):
    await make_person("alice")
    for value in ("²", TOO_BIG_ID, "abc"):
        assert (await client.get(f"/@alice/{value}")).status_code == 404
