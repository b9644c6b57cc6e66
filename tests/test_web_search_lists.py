"""The web app's search, hashtag follow and list pages over HTTP (in-process): the same ids as
the API for the same viewer, and the unhappy paths (someone else's list, CSRF, bad input)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from agora.db.models import FollowedTag, UserList
from helpers import HX, csrf_of, post_ids, post_status_id, web_sign_in


@pytest.fixture
async def trio(client, make_person, run_jobs):  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    bob = await make_person("bob")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": "Bobby Tables"},
        headers=bob.headers,
    )
    carol = await make_person("carol")
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    await run_jobs()
    return alice, bob, carol


async def test_search_finds_posts_people_and_hashtags(client, trio, run_jobs) -> None:  # type: ignore[no-untyped-def]
    _, bob, _ = trio
    await post_status_id(client, bob, "walrus facts #walrus")
    await run_jobs()
    await web_sign_in(client, "alice")
    page = await client.get("/search", params={"q": "walrus"})
    assert page.status_code == 200
    assert len(post_ids(page.text)) == 1 and 'href="/tags/walrus"' in page.text
    people = await client.get("/search", params={"q": "bobby", "type": "people"})
    assert 'href="/@bob"' in people.text and "No posts" not in people.text
    tags = await client.get("/search", params={"q": "#walr", "type": "hashtags"})
    assert "#walrus" in tags.text
    assert 'action="/search"' in (await client.get("/home")).text  # the header's box


async def test_search_rule_is_the_apis(client, trio, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = trio
    secret = await post_status_id(client, bob, "secret narwhal plans", visibility="private")
    await post_status_id(client, bob, "public narwhal news")
    await client.post(f"/api/v1/statuses/{secret}/favourite", headers=alice.headers)
    await run_jobs()
    found = {}
    for person, login in ((alice, "alice"), (carol, "carol")):
        api = await client.get(
            "/api/v2/search", params={"q": "narwhal", "type": "statuses"}, headers=person.headers
        )
        await web_sign_in(client, login)
        web = await client.get("/search", params={"q": "narwhal", "type": "posts"})
        found[login] = post_ids(web.text)
        assert found[login] == [int(s["id"]) for s in api.json()["statuses"]], login
        client.cookies.clear()
    assert int(secret) in found["alice"] and len(found["alice"]) == 2  # a follower who liked it
    assert int(secret) not in found["carol"] and len(found["carol"]) == 1  # public only
    # a lone #tag or @handle looks for no posts, through either door (search.kinds_for)
    await post_status_id(client, bob, "#narwhal facts from @alice")
    await run_jobs()
    await web_sign_in(client, "alice")
    for q in ("#narwhal", "@alice"):
        api = await client.get(
            "/api/v2/search", params={"q": q, "type": "statuses"}, headers=alice.headers
        )
        web = await client.get("/search", params={"q": q, "type": "posts"})
        assert api.json()["statuses"] == [] and post_ids(web.text) == [], q


async def test_search_bad_queries_give_a_message(client, trio) -> None:  # type: ignore[no-untyped-def]
    await web_sign_in(client, "alice")
    for q, message in [("", "Type something"), ("   ", "Type something"), ("x" * 1001, "too long")]:
        page = await client.get("/search", params={"q": q})
        assert page.status_code == 200 and message in page.text
    odd = await client.get(
        "/search", params={"q": '")(*&^% OR NOT', "type": "nonsense", "offset": "x"}
    )
    assert odd.status_code == 200
    client.cookies.clear()
    signed_out = await client.get("/search", params={"q": "bob"})
    assert signed_out.status_code == 200 and "Sign in</a> to search posts" in signed_out.text


async def test_follow_a_hashtag_from_its_page(client, trio, db) -> None:  # type: ignore[no-untyped-def]
    alice = trio[0]
    csrf = await web_sign_in(client, "alice")
    page = await client.get("/tags/Cats")
    assert "Follow #cats" in page.text
    refused = await client.post("/web/tags/cats/follow", headers=HX)
    assert refused.status_code == 403
    followed = await client.post("/web/tags/cats/follow", headers={**HX, "X-CSRF-Token": csrf})
    assert followed.status_code == 200 and "Unfollow #cats" in followed.text
    api = await client.get("/api/v1/followed_tags", headers=alice.headers)
    assert [t["name"] for t in api.json()] == ["cats"]
    plain = await client.post("/web/tags/cats/unfollow", data={"csrf": csrf})
    assert plain.status_code == 303
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FollowedTag)) == 0
    bad = await client.post("/web/tags/cats/explode", headers={**HX, "X-CSRF-Token": csrf})
    assert bad.status_code == 404


async def test_lists_create_manage_and_read(client, trio, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = trio
    await post_status_id(client, bob, "from a list member")
    await post_status_id(client, carol, "not followed")
    await run_jobs()
    csrf = await web_sign_in(client, "alice")
    assert 'href="/lists"' in (await client.get("/home")).text
    made = await client.post(
        "/lists", data={"csrf": csrf, "title": "Friends", "replies_policy": "followed"}
    )
    assert made.status_code == 303
    url = made.headers["location"]
    page = await client.get(url)
    assert "Friends" in page.text and "@bob" in page.text and "@carol" not in page.text
    added = await client.post(f"{url}/members", data={"csrf": csrf, "account_id": bob.id})
    assert added.status_code == 303
    page = await client.get(url)
    assert "from a list member" in page.text and "Remove @bob" in page.text
    api = await client.get(f"/api/v1/timelines/list/{url.split('/')[-1]}", headers=alice.headers)
    assert post_ids(page.text) == [int(s["id"]) for s in api.json()]
    stranger = await client.post(f"{url}/members", data={"csrf": csrf, "account_id": carol.id})
    assert stranger.status_code == 404  # only followed accounts
    again = await client.post(f"{url}/members", data={"csrf": csrf, "account_id": bob.id})
    assert again.status_code == 422 and "already" in again.text
    renamed = await client.post(
        f"{url}/update",
        data={"csrf": csrf, "title": "Pals", "replies_policy": "none", "exclusive": "on"},
    )
    assert renamed.status_code == 303
    lst = (await client.get(f"/api/v1/lists/{url.split('/')[-1]}", headers=alice.headers)).json()
    assert (lst["title"], lst["replies_policy"], lst["exclusive"]) == ("Pals", "none", True)
    blank = await client.post(
        f"{url}/update", data={"csrf": csrf, "title": " ", "replies_policy": "none"}
    )
    assert blank.status_code == 422 and "blank" in blank.text
    removed = await client.post(f"{url}/members/{bob.id}/remove", data={"csrf": csrf})
    assert removed.status_code == 303 and "No one on this list" in (await client.get(url)).text
    assert (await client.post(f"{url}/delete", data={"csrf": csrf})).status_code == 303
    assert (await client.get(url)).status_code == 404


async def test_someone_elses_list_is_404_and_forms_need_csrf(client, trio, db) -> None:  # type: ignore[no-untyped-def]
    _, bob, _ = trio
    made = await client.post("/api/v1/lists", json={"title": "Bob's"}, headers=bob.headers)
    theirs = made.json()["id"]
    csrf = await web_sign_in(client, "alice")
    for path in [f"/lists/{theirs}", "/lists/123", "/lists/nope"]:
        page = await client.get(path)
        assert page.status_code == 404 and "<html" in page.text, path
    for action in ("update", "delete", "members"):
        response = await client.post(
            f"/lists/{theirs}/{action}",
            data={"csrf": csrf, "title": "mine now", "account_id": bob.id},
        )
        assert response.status_code == 404, action
    no_csrf = await client.post("/lists", data={"title": "sneaky"})
    assert no_csrf.status_code == 403
    blank = await client.post("/lists", data={"csrf": csrf, "title": ""})
    assert blank.status_code == 422 and "blank" in blank.text
    async with db.session() as session:
        titles = (await session.scalars(select(UserList.title))).all()
    assert titles == ["Bob's"]


async def test_list_timeline_scrolls(client, trio, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice, bob, _ = trio
    made = await client.post("/api/v1/lists", json={"title": "B"}, headers=alice.headers)
    lid = made.json()["id"]
    await client.post(
        f"/api/v1/lists/{lid}/accounts", json={"account_ids": [bob.id]}, headers=alice.headers
    )
    for i in range(43):
        await post_status_id(client, bob, f"list post {i}")
    await web_sign_in(client, "alice")
    page = await client.get(f"/lists/{lid}")
    assert len(post_ids(page.text)) == 40 and 'hx-trigger="revealed"' in page.text
    next_url = page.text.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    chunk = await client.get(next_url, headers=HX)
    assert "<html" not in chunk.text and len(post_ids(chunk.text)) == 3
    assert csrf_of(page.text)


async def test_a_list_page_cut_short_by_its_bound_on_work_still_scrolls_on(  # type: ignore[no-untyped-def]
    client, trio, monkeypatch
) -> None:
    """bob, on alice's list, posted only DMs to carol after his one public post: the page stops
    after MAX_EXAMINED posts, empty, with an "Older posts" link that goes on from there."""
    from agora.social.reading import list_timeline

    monkeypatch.setattr(list_timeline, "MAX_EXAMINED", 30)
    alice, bob, _ = trio
    made = await client.post("/api/v1/lists", json={"title": "B"}, headers=alice.headers)
    lid = made.json()["id"]
    await client.post(
        f"/api/v1/lists/{lid}/accounts", json={"account_ids": [bob.id]}, headers=alice.headers
    )
    public = await post_status_id(client, bob, "the one post alice's list shows")
    for i in range(40):
        await post_status_id(client, bob, f"@carol psst {i}", visibility="direct")
    await web_sign_in(client, "alice")
    page = await client.get(f"/lists/{lid}")
    assert post_ids(page.text) == [] and 'hx-trigger="revealed"' in page.text
    next_url = page.text.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    chunk = await client.get(next_url, headers=HX)
    assert post_ids(chunk.text) == [int(public)]
