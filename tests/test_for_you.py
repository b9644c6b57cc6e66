"""The For You feed (docs/RANKING.md): each weight's effect pinned on the pure scoring, then
the feed end to end through the API: a post the viewer may not see never becomes a
candidate, the reasons add up to the score, weights change the order, "show less" lowers an
author, the synthetic "For You" list cannot be edited, and the controls (weights, reset,
turning off, feedback) answer and refuse as documented."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from agora.db.models import Account, Post, utcnow
from agora.social.reading.for_you import ranked_feed
from agora.social.reading.for_you_scoring import WEIGHTS, Features, check_weights, rank
from agora.social.reading.for_you_settings import instance_weights
from helpers import boost, csrf_of, follow, post_status_id, web_sign_in

DEFAULTS = {name: spec.default for name, spec in WEIGHTS.items()}
BASE = Features(post_id=10, author_id=1, age_hours=1.0)

# -- the scoring: each weight's effect -------------------------------------------------------

# the feature each plain weight multiplies, set on a candidate, and its value in the sum
FEATURE_OF: dict[str, tuple[dict[str, Any], float]] = {
    "likes": ({"likes": 4}, math.log1p(4)),
    "replies": ({"replies": 2}, math.log1p(2)),
    "boosts": ({"boosts": 3}, math.log1p(3)),
    "quotes": ({"quotes": 1}, math.log1p(1)),
    "network_likes": ({"network_likes": 2, "likes": 2}, math.log1p(2)),
    "author_follows": ({"author_follows": 5}, math.log1p(5)),
    "in_network": ({"followed": True}, 1.0),
    "trending": ({"trending_tag": "cats"}, 1.0),
    "similar": ({"similar_likes": 3}, math.log1p(3)),
    "bridging": ({"network_likes": 2, "likes": 5}, math.log1p(2)),
    "recency": ({"age_hours": 12.0}, 1 - 12 / 48),
    "show_more": ({"more": 2}, 2.0),
    "show_less": ({"less": 2}, 2.0),
    "assistant": ({"assistant": True}, 1.0),
}


def _one(features: Features, **weights: float) -> Any:
    return rank([features], {**DEFAULTS, **weights})[0]


def test_every_weight_has_a_pinned_effect() -> None:
    assert set(FEATURE_OF) | {"out_of_network", "author_diversity"} == set(WEIGHTS)


@pytest.mark.parametrize("name", sorted(FEATURE_OF))
def test_each_weight_contributes_weight_times_its_feature(name: str) -> None:
    changes, value = FEATURE_OF[name]
    candidate = BASE._replace(**{"followed": True, **changes})  # no out-of-network factor
    weight = -2.0 if WEIGHTS[name].high <= 0 else 2.0
    ranked = _one(candidate, **{name: weight})
    assert ranked.contributions[name] == pytest.approx(weight * value)
    assert ranked.score == pytest.approx(sum(ranked.contributions.values()))
    # at 0 the term (and only it) disappears
    off = _one(candidate, **{name: 0.0})
    assert name not in off.contributions
    assert off.score == pytest.approx(ranked.score - weight * value)


def test_out_of_network_factor_discounts_only_authors_not_followed() -> None:
    outside = BASE._replace(likes=9)
    inside = outside._replace(followed=True)
    half = _one(outside, out_of_network=0.5, in_network=0.0)
    base = sum(v for k, v in half.contributions.items() if k != "out_of_network")
    assert half.contributions["out_of_network"] == pytest.approx(-0.5 * base)
    assert half.score == pytest.approx(0.5 * base)
    assert "out_of_network" not in _one(inside, out_of_network=0.5).contributions
    assert "out_of_network" not in _one(outside, out_of_network=1.0).contributions


def test_author_diversity_decays_repeated_authors() -> None:
    same = [BASE._replace(post_id=i, followed=True, likes=5) for i in (1, 2, 3)]
    other = BASE._replace(post_id=4, author_id=2, followed=True, likes=5)
    ranked = rank([*same, other], {**DEFAULTS, "author_diversity": 0.5})
    by_id = {r.post_id: r for r in ranked}
    first, second, third = (by_id[i] for i in (3, 2, 1))  # ties: the newer post first
    assert "author_diversity" not in first.contributions
    assert second.score == pytest.approx(first.score * 0.5)
    assert third.score == pytest.approx(first.score * 0.25)
    assert [r.post_id for r in ranked][:2] in ([3, 4], [4, 3])  # the other author comes second
    flat = rank([*same, other], {**DEFAULTS, "author_diversity": 1.0})
    assert all("author_diversity" not in r.contributions for r in flat)


def test_the_ranking_is_deterministic_and_sorted() -> None:
    pool = [
        BASE._replace(post_id=i, author_id=i % 4, likes=i % 7, age_hours=i % 40) for i in range(60)
    ]
    first = rank(pool, DEFAULTS)
    assert [r.post_id for r in first] == [r.post_id for r in rank(list(reversed(pool)), DEFAULTS)]
    scores = [r.score for r in first]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nonsense": 1}, "Unknown weight"),
        ({"likes": 9}, "between 0 and 5"),
        ({"show_less": 1}, "between -10 and 0"),
        ({"likes": "lots"}, "must be a number"),
        ({"likes": float("nan")}, "between"),
        ({"likes": True}, "must be a number"),
    ],
)
def test_bad_weights_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_weights(values)


def test_instance_defaults_come_from_the_config(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from agora.config import get_settings

    monkeypatch.setenv("AGORA_FOR_YOU_WEIGHTS", '{"likes": 3.5}')
    get_settings.cache_clear()
    try:
        assert instance_weights()["likes"] == 3.5
        assert instance_weights()["boosts"] == WEIGHTS["boosts"].default
    finally:
        monkeypatch.delenv("AGORA_FOR_YOU_WEIGHTS")
        get_settings.cache_clear()


# -- the feed through the API ----------------------------------------------------------------

FEED = "/api/v1/timelines/agora/for_you"


async def _feed(client, person, **params: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = await client.get(FEED, headers=person.headers, params={"limit": 40, **params})
    assert r.status_code == 200, r.text
    return r.json()


async def _like(client, person, post_id: str) -> None:  # type: ignore[no-untyped-def]
    r = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=person.headers)
    assert r.status_code == 200, r.text


def _ids(statuses: list[dict[str, Any]]) -> list[str]:
    return [s["id"] for s in statuses]


async def test_reasons_and_contributions_add_up_to_the_score(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    viv, fay, ann, bob = [await make_person(n) for n in ("viv", "fay", "ann", "bob")]
    await follow(client, viv, fay)
    await follow(client, fay, ann)
    own = await post_status_id(client, fay, "fay says hi")
    second = await post_status_id(client, ann, "ann, followed by fay #gardening")
    liked = await post_status_id(client, bob, "bob's post fay liked")
    await _like(client, fay, liked)
    await _like(client, ann, liked)
    await run_jobs()
    statuses = await _feed(client, viv)
    assert set(_ids(statuses)) == {own, second, liked}
    scores = []
    for status in statuses:
        ranking = status["agora"]["ranking"]
        assert sum(ranking["contributions"].values()) == pytest.approx(ranking["score"], abs=1e-4)
        scores.append(ranking["score"])
    assert scores == sorted(scores, reverse=True)
    by_id = {s["id"]: s["agora"]["ranking"] for s in statuses}
    assert "From someone you follow" in by_id[own]["reasons"]
    assert "Liked by 1 person you follow" in by_id[liked]["reasons"]
    assert "Its author is followed by 1 person you follow" in by_id[second]["reasons"]
    assert "Trending in #gardening" in by_id[second]["reasons"]
    # consent: counts only, never who liked it
    assert not any("fay" in reason or "ann" in reason for reason in by_id[liked]["reasons"])
    # the ranking is the feed's own: the same post elsewhere carries none
    single = (await client.get(f"/api/v1/statuses/{own}", headers=viv.headers)).json()
    assert "ranking" not in single["agora"]


async def test_weights_change_the_order(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    viv, fay, pop = [await make_person(n) for n in ("viv", "fay", "pop")]
    fans = [await make_person(f"fan{i}") for i in range(4)]
    await follow(client, viv, fay)
    await follow(client, fay, pop)
    popular = await post_status_id(client, pop, "liked by many")
    for fan in fans:
        await _like(client, fan, popular)
    quiet = await post_status_id(client, fay, "a quiet post from a friend")
    await run_jobs()
    assert _ids(await _feed(client, viv)) == [quiet, popular]
    r = await client.patch(
        "/api/v1/agora/for_you/weights",
        headers=viv.headers,
        json={"weights": {"likes": 5, "in_network": 0, "out_of_network": 1}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["own"] == {"likes": 5.0, "in_network": 0.0, "out_of_network": 1.0}
    reordered = await _feed(client, viv)
    assert _ids(reordered) == [popular, quiet], [s["agora"]["ranking"] for s in reordered]
    r = await client.delete("/api/v1/agora/for_you/weights", headers=viv.headers)
    assert r.status_code == 200 and r.json()["own"] == {}
    assert _ids(await _feed(client, viv)) == [quiet, popular]


async def test_show_less_lowers_the_author_and_show_more_raises(
    client, make_person, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    viv, ann, bob = [await make_person(n) for n in ("viv", "ann", "bob")]
    await follow(client, viv, ann)
    await follow(client, viv, bob)
    ann_posts = [await post_status_id(client, ann, f"ann {i}") for i in range(2)]
    bob_post = await post_status_id(client, bob, "bob's only post")
    await run_jobs()
    before = _ids(await _feed(client, viv))
    assert before[0] == bob_post  # the newest
    r = await client.post(
        "/api/v1/agora/for_you/feedback",
        headers=viv.headers,
        data={"status_id": bob_post, "type": "less"},
    )
    assert r.status_code == 200, r.text
    bob_next = await post_status_id(client, bob, "bob again")
    await run_jobs()
    after = await _feed(client, viv)
    assert bob_post not in _ids(after)  # feedback given: seen, not offered again
    assert _ids(after)[-1] == bob_next  # the newest post, yet last: its author was shown less
    assert "You asked for less from this author" in after[-1]["agora"]["ranking"]["reasons"]
    r = await client.post(
        "/api/v1/agora/for_you/feedback",
        headers=viv.headers,
        json={"status_id": ann_posts[0], "type": "more"},
    )
    assert r.status_code == 200
    top = (await _feed(client, viv))[0]
    assert top["id"] == ann_posts[1] and top["agora"]["ranking"]["contributions"]["show_more"] > 0


async def test_reporting_an_author_lowers_them_like_show_less(
    client, make_person, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    viv, ann, bob = [await make_person(n) for n in ("viv", "ann", "bob")]
    await follow(client, viv, ann)
    await follow(client, viv, bob)
    older = await post_status_id(client, ann, "ann's post")
    newer = await post_status_id(client, bob, "bob's post")
    await run_jobs()
    assert _ids(await _feed(client, viv)) == [newer, older]
    r = await client.post("/api/v1/reports", headers=viv.headers, data={"account_id": str(bob.id)})
    assert r.status_code == 200, r.text
    after = await _feed(client, viv)
    assert _ids(after) == [older, newer]
    ranking = after[1]["agora"]["ranking"]
    assert "You reported this author" in ranking["reasons"]
    assert ranking["contributions"]["show_less"] == pytest.approx(WEIGHTS["show_less"].default)


async def test_feedback_is_refused_for_bad_input_and_unseen_posts(client, make_person) -> None:  # type: ignore[no-untyped-def]
    viv, ann = await make_person("viv"), await make_person("ann")
    secret = await post_status_id(client, ann, "only for followers", visibility="private")
    url = "/api/v1/agora/for_you/feedback"
    r = await client.post(url, headers=viv.headers, data={"status_id": secret, "type": "less"})
    assert r.status_code == 404 and "error" in r.json()
    public = await post_status_id(client, ann, "public")
    r = await client.post(url, headers=viv.headers, data={"status_id": public, "type": "meh"})
    assert r.status_code == 422 and "more or less" in r.json()["error"]
    r = await client.post(url, data={"status_id": public, "type": "less"})
    assert r.status_code == 401


async def test_weights_api_checks_resets_and_turns_off(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    viv, fay = await make_person("viv"), await make_person("fay")
    await follow(client, viv, fay)
    await post_status_id(client, fay, "hello")
    await run_jobs()
    url = "/api/v1/agora/for_you/weights"
    shown = (await client.get(url, headers=viv.headers)).json()
    assert shown["enabled"] is True and shown["weights"] == instance_weights()
    assert shown["ranges"]["show_less"]["max"] == 0
    for bad in ({"likes": 99}, {"nope": 1}):
        r = await client.patch(url, headers=viv.headers, json={"weights": bad})
        assert r.status_code == 422 and "error" in r.json()
    assert (await client.get(url, headers=viv.headers)).json()["own"] == {}
    r = await client.patch(url, headers=viv.headers, data={"weights[likes]": "2.5"})
    assert r.status_code == 200 and r.json()["weights"]["likes"] == 2.5
    r = await client.patch(url, headers=viv.headers, json={"enabled": False})
    assert r.json()["enabled"] is False and r.json()["own"] == {"likes": 2.5}
    assert await _feed(client, viv) == []
    lists = (await client.get("/api/v1/lists", headers=viv.headers)).json()
    assert all(item["id"] != "for_you" for item in lists)
    await client.delete(url, headers=viv.headers)
    assert len(await _feed(client, viv)) == 1


async def test_the_for_you_list_is_the_ranked_feed_and_cannot_be_edited(
    client, make_person, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    viv, fay = await make_person("viv"), await make_person("fay")
    await follow(client, viv, fay)
    posted = await post_status_id(client, fay, "in the list")
    await run_jobs()
    lists = (await client.get("/api/v1/lists", headers=viv.headers)).json()
    assert lists[0] == {
        "id": "for_you",
        "title": "For You",
        "replies_policy": "none",
        "exclusive": False,
    }
    shown = await client.get("/api/v1/lists/for_you", headers=viv.headers)
    assert shown.json()["title"] == "For You"
    timeline = await client.get("/api/v1/timelines/list/for_you", headers=viv.headers)
    assert _ids(timeline.json()) == [posted]
    assert "ranking" in timeline.json()[0]["agora"]
    members = await client.get("/api/v1/lists/for_you/accounts", headers=viv.headers)
    assert members.status_code == 200 and members.json() == []
    refusals = [
        await client.put("/api/v1/lists/for_you", headers=viv.headers, data={"title": "Mine"}),
        await client.delete("/api/v1/lists/for_you", headers=viv.headers),
        await client.post(
            "/api/v1/lists/for_you/accounts",
            headers=viv.headers,
            data={"account_ids[]": str(fay.id)},
        ),
        await client.request(
            "DELETE",
            "/api/v1/lists/for_you/accounts",
            headers=viv.headers,
            json={"account_ids": [str(fay.id)]},
        ),
    ]
    for r in refusals:
        assert r.status_code == 403
        assert r.json()["error"].startswith("The For You list is the ranked feed")
    assert (await client.get("/api/v1/lists/for_you", headers=viv.headers)).status_code == 200


async def test_pages_follow_the_ranking_without_overlap(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    viv, fay = await make_person("viv"), await make_person("fay")
    await follow(client, viv, fay)
    posted = [await post_status_id(client, fay, f"post {i}") for i in range(7)]
    await run_jobs()
    whole = _ids(await _feed(client, viv))
    assert sorted(whole) == sorted(posted)
    first = await client.get(FEED, headers=viv.headers, params={"limit": 3})
    assert 'rel="next"' in first.headers["link"]
    seen = _ids(first.json())
    nxt = first.headers["link"].split(";")[0].strip("<>")
    while nxt:
        r = await client.get(nxt, headers=viv.headers)
        seen += _ids(r.json())
        links = r.headers.get("link", "")
        nxt = links.split(";")[0].strip("<>") if 'rel="next"' in links and r.json() else ""
    assert seen == whole
    # boosting a post on the page (it is then seen) keeps the next page in place
    await boost(client, viv, whole[2])
    r = await client.get(FEED, headers=viv.headers, params={"limit": 3, "max_id": whole[2]})
    assert _ids(r.json()) == whole[3:6]


async def test_assistant_and_ai_labelled_posts_can_be_turned_down(
    client, db, make_person, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    viv, fay = await make_person("viv"), await make_person("fay")
    bot = await make_person("helper", bot=True)
    await follow(client, viv, fay)
    await follow(client, viv, bot)
    labelled = await post_status_id(client, fay, "written with a model")
    by_bot = await post_status_id(client, bot, "a bot's post")
    human = await post_status_id(client, fay, "an older human post")
    async with db.session(write=True) as session:
        await session.execute(
            update(Post).where(Post.id == int(labelled)).values(ai_generated=True)
        )
        await session.commit()
    await run_jobs()
    assert _ids(await _feed(client, viv))[0] == human  # the newest first
    r = await client.patch(
        "/api/v1/agora/for_you/weights", headers=viv.headers, json={"weights": {"assistant": -10}}
    )
    assert r.status_code == 200
    assert _ids(await _feed(client, viv)) == [human, by_bot, labelled]


# -- a post the viewer may not see never becomes a candidate ---------------------------------


async def test_invisible_posts_never_become_candidates(client, db, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    names = ("viv", "fay", "ann", "blk", "mut", "sus", "sil", "far", "men")
    p = {n: await make_person(n) for n in names}
    viv = p["viv"]
    await follow(client, viv, p["fay"])
    for target in ("ann", "blk", "mut", "sus", "sil", "far", "men"):
        await follow(client, p["fay"], p[target])  # all second-degree, so all are sources
    r = await client.post(f"/api/v1/accounts/{viv.id}/block", headers=p["blk"].headers)
    assert r.status_code == 200
    r = await client.post(f"/api/v1/accounts/{p['mut'].id}/mute", headers=viv.headers)
    assert r.status_code == 200
    bad: dict[str, str] = {}
    good: dict[str, str] = {}
    tag = " #everywhere"  # every post also trends, and fay likes each: every source offers it
    good["friend"] = await post_status_id(client, p["fay"], "fay public" + tag)
    good["friend_private"] = await post_status_id(
        client, p["fay"], "fay followers-only" + tag, visibility="private"
    )
    good["second"] = await post_status_id(client, p["ann"], "ann public" + tag)
    bad["direct"] = await post_status_id(
        client, p["fay"], f"@men fay direct{tag}", visibility="direct"
    )
    bad["private_far"] = await post_status_id(
        client, p["ann"], "ann followers-only" + tag, visibility="private"
    )
    bad["unlisted_far"] = await post_status_id(
        client, p["ann"], "ann unlisted" + tag, visibility="unlisted"
    )
    bad["blocker"] = await post_status_id(client, p["blk"], "blocker public" + tag)
    bad["muted"] = await post_status_id(client, p["mut"], "muted public" + tag)
    bad["suspended"] = await post_status_id(client, p["sus"], "suspended public" + tag)
    bad["silenced"] = await post_status_id(client, p["sil"], "silenced public" + tag)
    bad["domain"] = await post_status_id(client, p["far"], "remote public" + tag)
    bad["deleted"] = await post_status_id(client, p["ann"], "deleted public" + tag)
    bad["own"] = await post_status_id(client, viv, "viv's own" + tag)
    bad["reply_to_other"] = await post_status_id(
        client, p["fay"], "fay replies to ann" + tag, in_reply_to_id=good["second"]
    )
    bad["boost"] = (await boost(client, p["fay"], good["second"]))["id"]
    for post_id in [*good.values(), *bad.values()]:
        r = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=p["fay"].headers)
        assert r.status_code in (200, 404)  # fay cannot see them all (the direct post, blocks)
    r = await client.delete(f"/api/v1/statuses/{bad['deleted']}", headers=p["ann"].headers)
    assert r.status_code == 200
    r = await client.post(
        "/api/v1/domain_blocks", headers=viv.headers, data={"domain": "far.example"}
    )
    assert r.status_code == 200
    now = utcnow()
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == p["far"].id).values(domain="far.example")
        )
        await session.execute(
            update(Account).where(Account.id == p["sus"].id).values(suspended_at=now)
        )
        await session.execute(
            update(Account).where(Account.id == p["sil"].id).values(silenced_at=now)
        )
        await session.commit()
    await run_jobs()
    async with db.session() as session:
        for exclude_seen in (True, False):
            ranked = {
                str(r.post_id)
                for r in await ranked_feed(session, viv.id, exclude_seen=exclude_seen)
            }
            assert set(good.values()) <= ranked
            leaked = {kind for kind, pid in bad.items() if pid in ranked}
            assert not leaked
    assert set(_ids(await _feed(client, viv))) == set(good.values())


# -- the web app ---------------------------------------------------------------------------


async def test_web_tab_explains_and_settings_save(client, app, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    viv, fay = await make_person("viv"), await make_person("fay")
    await follow(client, viv, fay)
    posted = await post_status_id(client, fay, "hello from fay")
    await run_jobs()
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    await web_sign_in(browser, "viv")
    page = await browser.get("/for_you")
    assert page.status_code == 200
    assert "<summary>Why this post</summary>" in page.text
    assert "From someone you follow" in page.text and 'aria-current="page">For You' in page.text
    settings = await browser.get("/settings/for_you")
    csrf = csrf_of(settings.text)
    assert 'id="w-likes"' in settings.text and 'type="range"' in settings.text
    bad = await browser.post(
        "/settings/for_you", data={"csrf": csrf, "likes": "50", "enabled": "true"}
    )
    assert bad.status_code == 422 and "between 0 and 5" in bad.text
    saved = await browser.post(
        "/settings/for_you", data={"csrf": csrf, "likes": "4", "boosts": "1.5", "enabled": "true"}
    )
    assert saved.status_code == 303
    own = (await client.get("/api/v1/agora/for_you/weights", headers=viv.headers)).json()["own"]
    assert own == {"likes": 4.0}  # only what moved is the person's own
    r = await browser.post(
        f"/web/for_you/feedback/{posted}/less", data={"csrf": csrf}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "less like this" in r.text
    assert posted not in (await browser.get("/for_you")).text
    await browser.post("/settings/for_you", data={"csrf": csrf})  # the box unticked: off
    assert "You turned this feed off" in (await browser.get("/for_you")).text
    await browser.post("/settings/for_you/reset", data={"csrf": csrf})
    assert (await client.get("/api/v1/agora/for_you/weights", headers=viv.headers)).json()[
        "own"
    ] == {}
