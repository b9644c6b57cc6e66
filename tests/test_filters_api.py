"""Filters through HTTP: /api/v2/filters (keywords, statuses) and /api/v1/filters, and what they
do where posts are shown: `filtered` (FilterResult) on every status that matches in the
context, hidden ones removed, in every timeline, notifications, context and the streams."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from agora.db.models import Filter, FilterKeyword, FilterStatus
from helpers import follow, post_status

V2 = "/api/v2/filters"


async def _filter(client: Any, person: Any, **form: Any) -> dict[str, Any]:
    body = {"title": "Spoilers", "context": ["home"], "filter_action": "warn"} | form
    response = await client.post(V2, headers=person.headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _counts(db: Any) -> tuple[int, int, int]:
    async with db.session() as session:
        return tuple(  # type: ignore[return-value]
            [
                int(await session.scalar(select(func.count()).select_from(m)) or 0)
                for m in (Filter, FilterKeyword, FilterStatus)
            ]
        )


async def _home(client: Any, person: Any) -> list[dict[str, Any]]:
    return (await client.get("/api/v1/timelines/home", headers=person.headers)).json()


# --- CRUD ------------------------------------------------------------------------------------


async def test_v2_crud_with_keywords_and_statuses(client: Any, make_person: Any) -> None:
    alice = await make_person("alice")
    made = await _filter(
        client,
        alice,
        context=["home", "public"],
        expires_in=3600,
        keywords_attributes=[
            {"keyword": "dune", "whole_word": True},
            {"keyword": "spice", "whole_word": False},
        ],
    )
    assert made["title"] == "Spoilers" and made["context"] == ["home", "public"]
    assert made["filter_action"] == "warn" and made["expires_at"] is not None
    assert [(k["keyword"], k["whole_word"]) for k in made["keywords"]] == [
        ("dune", True),
        ("spice", False),
    ]
    fid = made["id"]
    assert (await client.get(f"{V2}/{fid}", headers=alice.headers)).json() == made
    assert (await client.get(V2, headers=alice.headers)).json() == [made]

    dune, spice = made["keywords"]
    changed = await client.put(
        f"{V2}/{fid}",
        headers=alice.headers,
        json={
            "title": "Dune",
            "filter_action": "hide",
            "expires_in": "",
            "keywords_attributes": [
                {"id": dune["id"], "keyword": "arrakis"},
                {"id": spice["id"], "_destroy": True},
                {"keyword": "melange", "whole_word": False},
            ],
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["title"] == "Dune" and body["filter_action"] == "hide"
    assert body["expires_at"] is None and body["context"] == ["home", "public"]
    assert [k["keyword"] for k in body["keywords"]] == ["arrakis", "melange"]

    post = await post_status(client, alice, "a post to filter")
    added = await client.post(
        f"{V2}/{fid}/statuses", headers=alice.headers, data={"status_id": post["id"]}
    )
    assert added.status_code == 200 and added.json()["status_id"] == post["id"]
    row = added.json()["id"]
    assert (await client.get(f"{V2}/statuses/{row}", headers=alice.headers)).json() == added.json()
    assert (await client.get(f"{V2}/{fid}/statuses", headers=alice.headers)).json() == [
        added.json()
    ]
    again = await client.post(
        f"{V2}/{fid}/statuses", headers=alice.headers, data={"status_id": post["id"]}
    )
    assert again.status_code == 422

    kw = await client.post(
        f"{V2}/{fid}/keywords", headers=alice.headers, data={"keyword": "sandworm"}
    )
    assert kw.status_code == 200 and kw.json()["whole_word"] is True
    kid = kw.json()["id"]
    put = await client.put(
        f"{V2}/keywords/{kid}", headers=alice.headers, data={"whole_word": "false"}
    )
    assert put.json() == {"id": kid, "keyword": "sandworm", "whole_word": False}
    listed = (await client.get(f"{V2}/{fid}/keywords", headers=alice.headers)).json()
    assert [k["keyword"] for k in listed] == ["arrakis", "melange", "sandworm"]
    assert (await client.delete(f"{V2}/keywords/{kid}", headers=alice.headers)).json() == {}
    assert (await client.delete(f"{V2}/statuses/{row}", headers=alice.headers)).json() == {}
    assert (await client.delete(f"{V2}/{fid}", headers=alice.headers)).json() == {}
    assert (await client.get(f"{V2}/{fid}", headers=alice.headers)).status_code == 404


async def test_form_brackets_are_read_as_rails_reads_them(client: Any, make_person: Any) -> None:
    alice = await make_person("alice")
    response = await client.post(
        V2,
        headers=alice.headers,
        data={
            "title": "t",
            "context[]": ["home", "thread"],
            "keywords_attributes[][keyword]": "one",
            "keywords_attributes[][whole_word]": "false",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["context"] == ["home", "thread"]
    assert [(k["keyword"], k["whole_word"]) for k in response.json()["keywords"]] == [
        ("one", False)
    ]


async def test_someone_elses_filter_is_404_and_unchanged(
    client: Any, db: Any, make_person: Any
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    made = await _filter(client, alice, keywords_attributes=[{"keyword": "x"}])
    fid, kid = made["id"], made["keywords"][0]["id"]
    post = await post_status(client, alice, "mine")
    row = (
        await client.post(
            f"{V2}/{fid}/statuses", headers=alice.headers, data={"status_id": post["id"]}
        )
    ).json()["id"]
    before = await _counts(db)
    for method, path, data in [
        ("GET", f"{V2}/{fid}", None),
        ("PUT", f"{V2}/{fid}", {"title": "mine now"}),
        ("DELETE", f"{V2}/{fid}", None),
        ("GET", f"{V2}/{fid}/keywords", None),
        ("POST", f"{V2}/{fid}/keywords", {"keyword": "y"}),
        ("GET", f"{V2}/keywords/{kid}", None),
        ("PUT", f"{V2}/keywords/{kid}", {"keyword": "z"}),
        ("DELETE", f"{V2}/keywords/{kid}", None),
        ("GET", f"{V2}/{fid}/statuses", None),
        ("POST", f"{V2}/{fid}/statuses", {"status_id": post["id"]}),
        ("GET", f"{V2}/statuses/{row}", None),
        ("DELETE", f"{V2}/statuses/{row}", None),
        ("GET", f"/api/v1/filters/{kid}", None),
        ("PUT", f"/api/v1/filters/{kid}", {"phrase": "z"}),
        ("DELETE", f"/api/v1/filters/{kid}", None),
    ]:
        answer = await client.request(method, path, headers=bob.headers, data=data)
        assert answer.status_code == 404, (method, path)
    # alice's own keyword id cannot be smuggled into someone else's update either
    other = await _filter(client, bob, keywords_attributes=[{"keyword": "b"}])
    answer = await client.put(
        f"{V2}/{other['id']}",
        headers=bob.headers,
        json={"keywords_attributes": [{"id": kid, "_destroy": True}]},
    )
    assert answer.status_code == 404
    assert await _counts(db) == (before[0] + 1, before[1] + 1, before[2])
    assert (await client.get(f"{V2}/{fid}", headers=alice.headers)).json() == made | {
        "statuses": [{"id": row, "status_id": post["id"]}]
    }


@pytest.mark.parametrize(
    "form",
    [
        {"title": ""},
        {"title": "x" * 201},
        {"context": []},
        {"context": ["home", "everywhere"]},
        {"filter_action": "delete"},
        {"expires_in": "-5"},
        {"expires_in": "soon"},
        {"keywords_attributes": [{"keyword": ""}]},
        {"keywords_attributes": [{"keyword": "k" * 201}]},
        {"keywords_attributes": "nope"},
    ],
)
async def test_bad_values_are_422_and_change_nothing(
    client: Any, db: Any, make_person: Any, form: dict[str, Any]
) -> None:
    alice = await make_person("alice")
    made = await _filter(client, alice, keywords_attributes=[{"keyword": "keep"}])
    before = await _counts(db)
    body = {"title": "t", "context": ["home"]} | form
    created = await client.post(V2, headers=alice.headers, json=body)
    assert created.status_code == 422, created.text
    assert "error" in created.json()
    updated = await client.put(f"{V2}/{made['id']}", headers=alice.headers, json=form)
    assert updated.status_code == 422, (form, updated.text)
    assert await _counts(db) == before
    assert (await client.get(f"{V2}/{made['id']}", headers=alice.headers)).json() == made


async def test_scopes(client: Any, make_person: Any) -> None:
    reader = await make_person("reader", scopes="read")
    assert (await client.get(V2, headers=reader.headers)).status_code == 200
    denied = await client.post(V2, headers=reader.headers, json={"title": "t", "context": ["home"]})
    assert denied.status_code == 403
    assert (await client.get(V2)).status_code == 401


async def test_v1_shape(client: Any, make_person: Any) -> None:
    alice = await make_person("alice")
    made = await client.post(
        "/api/v1/filters",
        headers=alice.headers,
        data={"phrase": "Dune", "context[]": ["home", "notifications"], "irreversible": "true"},
    )
    assert made.status_code == 200, made.text
    v1 = made.json()
    assert v1["phrase"] == "Dune" and v1["irreversible"] is True and v1["whole_word"] is True
    assert v1["context"] == ["home", "notifications"] and v1["expires_at"] is None
    [v2] = (await client.get(V2, headers=alice.headers)).json()
    assert v2["title"] == "Dune" and v2["filter_action"] == "hide"
    assert v2["keywords"][0]["id"] == v1["id"]
    assert (await client.get("/api/v1/filters", headers=alice.headers)).json() == [v1]
    changed = await client.put(
        f"/api/v1/filters/{v1['id']}",
        headers=alice.headers,
        data={"phrase": "Arrakis", "irreversible": "false", "whole_word": "false"},
    )
    assert changed.json() | {} == v1 | {
        "phrase": "Arrakis",
        "irreversible": False,
        "whole_word": False,
    }
    bad = await client.put(
        f"/api/v1/filters/{v1['id']}", headers=alice.headers, data={"context[]": "nowhere"}
    )
    assert bad.status_code == 422
    assert (await client.delete(f"/api/v1/filters/{v1['id']}", headers=alice.headers)).json() == {}
    assert (await client.get(V2, headers=alice.headers)).json() == []


# --- what filters do -------------------------------------------------------------------------


async def test_warn_marks_and_hide_removes_in_home_with_filter_results(
    client: Any, make_person: Any, run_jobs: Any
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    await follow(client, alice, bob)
    warned = await post_status(client, bob, "The Dune sequel is out")
    inside = await post_status(client, bob, "Dunes of sand (not a whole word)")
    hidden = await post_status(client, bob, "tomato soup recipe")
    plain = await post_status(client, bob, "nothing to see")
    boost = (
        await client.post(f"/api/v1/statuses/{warned['id']}/reblog", headers=bob.headers)
    ).json()
    await run_jobs()
    made = await _filter(client, alice, keywords_attributes=[{"keyword": "dune"}])
    gone = await _filter(
        client, alice, title="Food", filter_action="hide", keywords_attributes=[{"keyword": "soup"}]
    )
    home = await _home(client, alice)
    ids = [s["id"] for s in home]
    assert hidden["id"] not in ids
    assert {plain["id"], inside["id"], warned["id"], boost["id"]} <= set(ids)
    by_id = {s["id"]: s for s in home}
    assert by_id[plain["id"]]["filtered"] == [] and by_id[inside["id"]]["filtered"] == []
    [result] = by_id[warned["id"]]["filtered"]
    assert result == {
        "filter": {
            "id": made["id"],
            "title": "Spoilers",
            "context": ["home"],
            "expires_at": None,
            "filter_action": "warn",
        },
        "keyword_matches": ["Dune"],
        "status_matches": None,
    }
    assert by_id[boost["id"]]["filtered"][0]["keyword_matches"] == ["Dune"]
    assert by_id[boost["id"]]["reblog"]["filtered"][0]["filter"]["id"] == made["id"]
    # not for someone else, and not in a context the filter does not name
    bob_home = {s["id"]: s for s in await _home(client, bob)}
    assert bob_home[warned["id"]]["filtered"] == [] and hidden["id"] in bob_home
    public = (await client.get("/api/v1/timelines/public", headers=alice.headers)).json()
    public_ids = {s["id"]: s for s in public}
    assert hidden["id"] in public_ids and public_ids[warned["id"]]["filtered"] == []
    # looked up by id: every filter counts, nothing is hidden (as on Mastodon)
    one = (await client.get(f"/api/v1/statuses/{hidden['id']}", headers=alice.headers)).json()
    assert one["filtered"][0]["filter"]["id"] == gone["id"]
    # a filtered status
    await client.post(
        f"{V2}/{made['id']}/statuses", headers=alice.headers, data={"status_id": plain["id"]}
    )
    again = {s["id"]: s for s in await _home(client, alice)}
    assert again[plain["id"]]["filtered"][0]["status_matches"] == [plain["id"]]


async def test_every_context_applies_where_it_is_named(
    client: Any, make_person: Any, run_jobs: Any
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    await follow(client, alice, bob)
    root = await post_status(client, alice, "my thread")
    reply = await post_status(client, bob, "@alice secret reply", in_reply_to_id=root["id"])
    tagged = await post_status(client, bob, "secret #tagged")
    await run_jobs()
    for context in ("home", "notifications", "public", "thread", "account"):
        made = await _filter(
            client,
            alice,
            context=[context],
            filter_action="hide",
            keywords_attributes=[{"keyword": "secret"}],
        )
        home = {s["id"] for s in await _home(client, alice)}
        notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
        noted = {n["status"]["id"] for n in notes if n.get("status")}
        tag = (await client.get("/api/v1/timelines/tag/tagged", headers=alice.headers)).json()
        thread = (
            await client.get(f"/api/v1/statuses/{root['id']}/context", headers=alice.headers)
        ).json()
        profile = (
            await client.get(f"/api/v1/accounts/{bob.id}/statuses", headers=alice.headers)
        ).json()
        seen = {
            "home": reply["id"] in home,
            "notifications": reply["id"] in noted,
            "public": tagged["id"] in {s["id"] for s in tag},
            "thread": reply["id"] in {s["id"] for s in thread["descendants"]},
            "account": reply["id"] in {s["id"] for s in profile},
        }
        assert seen == {c: c != context for c in seen}, context
        await client.delete(f"{V2}/{made['id']}", headers=alice.headers)


async def test_an_expired_filter_does_nothing(
    client: Any, db: Any, make_person: Any, run_jobs: Any
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from agora.db.models import utcnow

    alice = await make_person("alice")
    post = await post_status(client, alice, "soup again")
    made = await _filter(
        client, alice, filter_action="hide", keywords_attributes=[{"keyword": "soup"}]
    )
    await run_jobs()
    assert post["id"] not in {s["id"] for s in await _home(client, alice)}
    async with db.session(write=True) as session:
        await session.execute(
            update(Filter)
            .where(Filter.id == int(made["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert post["id"] in {s["id"] for s in await _home(client, alice)}


async def test_a_hundred_keywords_whole_words_and_case(
    client: Any, make_person: Any, run_jobs: Any
) -> None:
    alice = await make_person("alice")
    words = [{"keyword": f"word{i}", "whole_word": True} for i in range(99)]
    words.append({"keyword": "C++", "whole_word": True})
    await _filter(client, alice, filter_action="hide", keywords_attributes=words)
    shown = await post_status(client, alice, "word7x is not word7, sorry: WORD7 is")
    kept = await post_status(client, alice, "nothing here: sword70")
    plus = await post_status(client, alice, "I like c++ a lot")
    await run_jobs()
    ids = {s["id"] for s in await _home(client, alice)}
    assert kept["id"] in ids
    assert shown["id"] not in ids and plus["id"] not in ids
