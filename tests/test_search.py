"""Search of posts: full text on both databases, the search rule (who may find what),
ranking, paging, the index kept in step with edits and deletes, and bad input."""

from __future__ import annotations

import pytest

from agora.social.search import best_matching_posts, parse, search_posts
from agora.social.search import posts as search_module
from helpers import post_status_id


async def _found(client, person, q, **params):
    headers = person.headers if person else {}
    r = await client.get("/api/v2/search", headers=headers, params={"q": q, **params})
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["statuses"]]


async def test_finds_posts_by_words_phrases_and_exclusions(client, make_person):
    alice = await make_person("alice")
    both = await post_status_id(client, alice, "Morning coffee in the garden")
    coffee = await post_status_id(client, alice, "Coffee, black, no sugar")
    garden = await post_status_id(client, alice, "The garden is flooded")
    cw = await post_status_id(client, alice, "see inside", spoiler_text="coffee spoilers")
    assert await _found(client, alice, "coffee garden") == [both]
    assert set(await _found(client, alice, "COFFEE")) == {both, coffee, cw}
    assert await _found(client, alice, '"in the garden"') == [both]
    assert await _found(client, alice, '"garden in the"') == []
    assert await _found(client, alice, "garden -coffee") == [garden]
    assert await _found(client, alice, "#coffee") == []  # a lone hashtag searches hashtags
    assert set(await _found(client, alice, "coffee", type="statuses")) == {both, coffee, cw}


async def test_diacritics_and_case(client, make_person, db):
    alice = await make_person("alice")
    post = await post_status_id(client, alice, "Un Café CRÈME")
    assert await _found(client, alice, "café crème") == [post]
    if db.is_sqlite:  # FTS5 folds diacritics; PostgreSQL's 'simple' configuration does not
        assert await _found(client, alice, "cafe creme") == [post]


async def test_relevance_then_recency(client, make_person):
    alice = await make_person("alice")
    older = await post_status_id(
        client, alice, "river walk today with a long story about many other things"
    )
    best = await post_status_id(client, alice, "river walk")
    newer = await post_status_id(client, alice, "a walk by the river and then some more words here")
    phrase = await post_status_id(
        client, alice, "yesterday: river walk, and lots of other words here"
    )
    found = await _found(client, alice, "river walk")
    assert found[0] == best  # short and exact
    assert found.index(phrase) < found.index(newer)  # words as typed rank higher
    assert set(found) == {older, best, newer, phrase}
    tie_a = await post_status_id(client, alice, "tea time")
    tie_b = await post_status_id(client, alice, "tea time")
    assert (await _found(client, alice, "tea time"))[:2] == [tie_b, tie_a]  # equal: newest first


async def test_search_rule_visibility_and_discoverability(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    public = await post_status_id(client, alice, "zebra public")
    unlisted = await post_status_id(client, alice, "zebra unlisted", visibility="unlisted")
    private = await post_status_id(client, alice, "zebra private", visibility="private")
    direct = await post_status_id(client, alice, "zebra direct @carol", visibility="direct")
    assert set(await _found(client, alice, "zebra")) == {public, unlisted, private, direct}
    assert await _found(client, bob, "zebra") == [public]
    assert set(await _found(client, carol, "zebra")) == {public, direct}  # mentioned
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await run_jobs()
    # a follower may see the private post, but finds it only after interacting with it
    assert await _found(client, bob, "zebra") == [public]
    await client.post(f"/api/v1/statuses/{private}/bookmark", headers=bob.headers)
    await client.post(f"/api/v1/statuses/{unlisted}/favourite", headers=bob.headers)
    assert set(await _found(client, bob, "zebra")) == {public, private, unlisted}
    # not discoverable: public posts are found only by those who took part in them
    await client.patch(
        "/api/v1/accounts/update_credentials", headers=alice.headers, data={"discoverable": "0"}
    )
    assert set(await _found(client, bob, "zebra")) == {private, unlisted}
    assert await _found(client, carol, "zebra") == [direct]
    await client.post(f"/api/v1/statuses/{public}/reblog", headers=carol.headers)
    assert set(await _found(client, carol, "zebra")) == {direct, public}
    # nobody signed in finds no posts (as on Mastodon)
    assert await _found(client, None, "zebra") == []


async def test_blocks_mutes_deletes_and_suspension(client, make_person, db):
    alice, bob = await make_person("alice"), await make_person("bob")
    post = await post_status_id(client, alice, "quokka selfie")
    assert await _found(client, bob, "quokka") == [post]
    await client.post(f"/api/v1/accounts/{alice.id}/mute", headers=bob.headers)
    assert await _found(client, bob, "quokka") == []
    await client.post(f"/api/v1/accounts/{alice.id}/unmute", headers=bob.headers)
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert await _found(client, bob, "quokka") == []
    await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    assert await _found(client, bob, "quokka") == [post]
    async with db.session(write=True) as session:
        from agora.social.people.moderation import lift, take_action

        await take_action(session, alice.id, "suspend", by=None)
    assert await _found(client, bob, "quokka") == []
    async with db.session(write=True) as session:
        await lift(session, alice.id, "unsuspend", by=None)
    await client.delete(f"/api/v1/statuses/{post}", headers=alice.headers)
    assert await _found(client, alice, "quokka") == []


async def test_index_follows_edits_and_boosts(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    post = await post_status_id(client, alice, "original wording")
    await client.post(f"/api/v1/statuses/{post}/reblog", headers=bob.headers)
    assert await _found(client, bob, "original") == [post]  # the boost itself is not indexed
    r = await client.put(
        f"/api/v1/statuses/{post}", headers=alice.headers, data={"status": "edited phrasing"}
    )
    assert r.status_code == 200
    assert await _found(client, bob, "original") == []
    assert await _found(client, bob, "edited") == [post]
    await client.post(f"/api/v1/statuses/{post}/unreblog", headers=bob.headers)
    assert await _found(client, bob, "edited") == [post]


async def test_author_filters_paging_and_cursors(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    mine = [await post_status_id(client, alice, f"llama number {i}") for i in range(5)]
    theirs = await post_status_id(client, bob, "llama too")
    found = await _found(client, alice, "llama", account_id=bob.id)
    assert found == [theirs]
    assert set(await _found(client, alice, "llama from:alice")) == set(mine)
    assert set(await _found(client, alice, "from:@bob llama")) == {theirs}
    assert await _found(client, alice, "llama from:nobody") == []
    page1 = await _found(client, alice, "llama", type="statuses", limit=2)
    page2 = await _found(client, alice, "llama", type="statuses", limit=2, offset=2)
    page3 = await _found(client, alice, "llama", type="statuses", limit=2, offset=4)
    assert len(page1 + page2 + page3) == 6 and set(page1 + page2 + page3) == {*mine, theirs}
    assert await _found(client, alice, "llama", offset=2) == await _found(client, alice, "llama")
    older = await _found(client, alice, "llama", max_id=mine[2])
    assert set(older) == {mine[0], mine[1]}
    newer = await _found(client, alice, "llama", min_id=mine[2])
    assert set(newer) == {mine[3], mine[4], theirs}
    r = await client.get(
        "/api/v2/search", headers=alice.headers, params={"q": "x", "account_id": "123"}
    )
    assert r.status_code == 404


async def test_window_and_scan_past_it(client, make_person, monkeypatch):
    """Matches past the ranked window follow in recency order; posts the searcher may not
    find are skipped across chunks."""
    monkeypatch.setattr(search_module, "RANK_WINDOW", 3)
    monkeypatch.setattr(search_module, "CHUNK", 2)
    alice, bob = await make_person("alice"), await make_person("bob")
    ids = []
    for i in range(9):
        visibility = "private" if i % 3 == 1 else "public"
        ids.append(await post_status_id(client, alice, f"walrus {i}", visibility=visibility))
    visible = [i for n, i in enumerate(ids) if n % 3 != 1]
    found = await _found(client, bob, "walrus", type="statuses", limit=40)
    assert set(found) == set(visible) and len(found) == len(visible)
    assert found[2:] == sorted(found[2:], reverse=True)  # past the window: newest first
    pages = [
        await _found(client, bob, "walrus", type="statuses", limit=2, offset=o) for o in (0, 2, 4)
    ]
    assert [i for page in pages for i in page] == found


@pytest.mark.parametrize(
    "q",
    [
        '"',
        '""',
        '"unclosed phrase',
        "*",
        "coffee*",
        "NEAR(a b)",
        "a NEAR b",
        "-",
        "--coffee",
        "-coffee",
        ":",
        "text:coffee",
        "coffee AND OR NOT",
        "^coffee",
        "col:umn",
        "{a b}",
        "(((",
        "'; DROP TABLE posts; --",
        "\\",
        "a & b | !c <-> d",
        "from:",
        "from:@",
        "🙂",
        "x" * 1000,
    ],
)
async def test_query_syntax_never_fails(client, make_person, q):
    alice = await make_person("alice")
    await post_status_id(client, alice, "coffee and a b near")
    r = await client.get("/api/v2/search", headers=alice.headers, params={"q": q})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"accounts", "statuses", "hashtags"}


async def test_bad_parameters(client, make_person):
    alice = await make_person("alice")
    h = alice.headers
    for params in ({}, {"q": ""}, {"q": "   "}):
        r = await client.get("/api/v2/search", headers=h, params=params)
        assert r.status_code == 400 and "q" in r.json()["error"]
    r = await client.get("/api/v2/search", headers=h, params={"q": "x" * 10_000})
    assert r.status_code == 422 and "too long" in r.json()["error"]
    r = await client.get("/api/v2/search", headers=h, params={"q": "a", "type": "groups"})
    assert r.status_code == 422
    for key in ("limit", "offset"):
        r = await client.get("/api/v2/search", headers=h, params={"q": "a", key: "many"})
        assert r.status_code == 422
    for key in ("max_id", "min_id", "account_id"):
        r = await client.get("/api/v2/search", headers=h, params={"q": "a", key: "abc"})
        assert r.status_code == 422
    await post_status_id(client, alice, "kiwi")
    for limit, offset in (("-5", "-5"), ("100000", "99999999"), ("0", "0")):
        r = await client.get(
            "/api/v2/search",
            headers=h,
            params={"q": "kiwi", "type": "statuses", "limit": limit, "offset": offset},
        )
        assert r.status_code == 200, r.text
    # without a token: no offset, no resolve (Mastodon answers 401)
    r = await client.get("/api/v2/search", params={"q": "kiwi", "type": "accounts", "offset": 1})
    assert r.status_code == 401
    r = await client.get("/api/v2/search", params={"q": "kiwi", "resolve": "true"})
    assert r.status_code == 401
    r = await client.get("/api/v2/search", params={"q": "kiwi"})
    assert r.status_code == 200


async def test_local_urls_resolve(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    post = await post_status_id(client, alice, "linkable")
    secret = await post_status_id(client, alice, "hidden", visibility="private")
    for url in (
        f"http://testserver/@alice/{post}",
        f"http://testserver/users/alice/statuses/{post}",
    ):
        r = await client.get(
            "/api/v2/search", headers=bob.headers, params={"q": url, "resolve": "1"}
        )
        assert [s["id"] for s in r.json()["statuses"]] == [post]
    r = await client.get(
        "/api/v2/search", headers=bob.headers, params={"q": f"http://testserver/@alice/{secret}"}
    )
    assert r.json()["statuses"] == []
    r = await client.get(
        "/api/v2/search", headers=bob.headers, params={"q": "http://testserver/@alice"}
    )
    assert [a["username"] for a in r.json()["accounts"]] == ["alice"]
    r = await client.get(
        "/api/v2/search", headers=bob.headers, params={"q": "https://elsewhere.example/@x/1"}
    )
    assert r.json() == {"accounts": [], "statuses": [], "hashtags": []}


def test_parse_is_safe_and_capped():
    q = parse('coffee "in the garden" -tea from:@Alice NEAR* "unclosed')
    assert q.terms == ("coffee", "near", "unclosed")
    assert q.phrases == (("in", "the", "garden"),)
    assert q.excluded == ("tea",)
    assert q.author == "alice"
    assert q.fts5() == '("coffee" AND "near" AND "unclosed" AND "in the garden") NOT "tea"'
    assert not parse("-only -exclusions").searchable
    assert len(parse(" ".join(f"w{i}" for i in range(100))).terms) == 32
    assert parse("a" * 5000).terms == ("a" * 1000,)


async def test_best_matching_posts_for_the_assistant(client, make_person, db):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    exact = await post_status_id(client, alice, "sourdough bread recipe with rye")
    partial = await post_status_id(client, bob, "my bread went flat")
    private = await post_status_id(client, alice, "secret sourdough bread", visibility="private")
    await post_status_id(client, carol, "unrelated post about bikes")
    r = await client.patch(
        "/api/v1/agora/data_reuse",
        headers=bob.headers,
        json={"assistantContext": {"allow": False}},
    )
    assert r.status_code == 200, r.text
    async with db.session() as session:
        question = "What is the best sourdough bread?"
        found = await best_matching_posts(session, carol.id, question, 5)
        assert found == [int(exact), int(partial)]  # every word first, then any word
        allowed = await best_matching_posts(session, carol.id, question, 5, for_assistant=True)
        assert allowed == [int(exact)]  # bob turned assistantContext off
        only_bob = await best_matching_posts(
            session, carol.id, question, 5, extra=lambda author, post: post.account_id == bob.id
        )
        assert only_bob == [int(partial)]
        mine = await best_matching_posts(session, alice.id, "sourdough", 5)
        assert set(mine) == {int(exact), int(private)}
        anonymous = await best_matching_posts(session, None, "sourdough bread", 5)
        assert anonymous == [int(exact), int(partial)]
        assert await best_matching_posts(session, carol.id, "the of and", 5) == []
        assert await best_matching_posts(session, carol.id, "x" * 20_000, 5) == []
        assert await best_matching_posts(session, carol.id, "bread", 0) == []
        assert await search_posts(session, carol.id, "") == []


@pytest.mark.parametrize("walk", [True, False])
async def test_both_postgresql_paths_agree(client, make_person, monkeypatch, walk):
    """PostgreSQL finds the newest matches either by walking back by id or through the GIN
    index (chosen from its estimate); both give the same posts, bounds included."""
    from agora.social.search import index

    async def choose(*args):
        return walk

    monkeypatch.setattr(index, "_walks", choose)
    alice = await make_person("alice")
    ids = [
        await post_status_id(client, alice, f"otter {i} {'raft' if i % 2 else ''}")
        for i in range(6)
    ]
    assert set(await _found(client, alice, "otter")) == set(ids)
    assert set(await _found(client, alice, "otter raft")) == set(ids[1::2])
    assert set(await _found(client, alice, "otter", max_id=ids[3], min_id=ids[0])) == {
        ids[1],
        ids[2],
    }
    assert await _found(client, alice, "otter -raft", type="statuses", limit=1) == [ids[4]]
