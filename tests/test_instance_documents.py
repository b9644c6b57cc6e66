"""What apps read beside the instance (`/api/v1/instance/rules`, `/extended_description`,
`/privacy_policy`, `/terms_of_service`, `/activity`, `/peers`, `/domain_blocks` as the admins
publish them), written by admins in the console's settings and shown on /about,
/privacy-policy and /terms: the same text through both doors, escaped."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from agora.db.models import Account, utcnow
from agora.ids import new_id
from agora.social.instance import instance_documents
from helpers import csrf_of, make_admin, post_status, web_sign_in

BLOCKS = "/api/v1/admin/domain_blocks"


async def _save_settings(client: Any, **fields: str) -> Any:
    """Post the console's settings form as a signed-in admin would (every field sent)."""
    page = await client.get("/admin/settings")
    assert page.status_code == 200
    form = {
        "csrf": csrf_of(page.text),
        "registrations": "open",
        "instance_description": "A small server.",
        "instance_extended_description": "",
        "instance_rules": "",
        "instance_privacy_policy": "",
        "instance_terms_of_service": "",
        "domain_blocks_shown": "all",
        **fields,
    }
    return await client.post("/admin/settings", data=form)


async def test_documents_written_in_the_console_reach_the_api_and_the_pages(
    client, db, make_person
) -> None:
    await make_admin(db, make_person, "boss")
    assert (await client.get("/api/v1/instance/terms_of_service")).status_code == 404
    assert (await client.get("/terms")).status_code == 404
    default = (await client.get("/api/v1/instance/privacy_policy")).json()
    assert default["content"] == instance_documents.paragraphs(
        instance_documents.DEFAULT_PRIVACY_POLICY
    )
    await web_sign_in(client, "boss")
    saved = await _save_settings(
        client,
        instance_extended_description="We talk about <b>bikes</b>.\n\nBe kind.",
        instance_rules="No spam\nNo hate",
        instance_privacy_policy="We keep little.",
        instance_terms_of_service="Use it well.\nOr leave.",
    )
    assert saved.status_code == 303
    rules = (await client.get("/api/v1/instance/rules")).json()
    assert rules == [
        {"id": "1", "text": "No spam", "hint": ""},
        {"id": "2", "text": "No hate", "hint": ""},
    ]
    about = (await client.get("/api/v1/instance/extended_description")).json()
    assert about["content"] == "<p>We talk about &lt;b&gt;bikes&lt;/b&gt;.</p><p>Be kind.</p>"
    assert about["updated_at"].startswith(utcnow().date().isoformat())
    policy = (await client.get("/api/v1/instance/privacy_policy")).json()
    assert policy["content"] == "<p>We keep little.</p>"
    terms = (await client.get("/api/v1/instance/terms_of_service")).json()
    today = utcnow().date().isoformat()
    assert terms == {
        "effective_date": today,
        "effective": True,
        "content": "<p>Use it well.<br>Or leave.</p>",
        "succeeded_by": None,
    }
    on_day = await client.get(f"/api/v1/instance/terms_of_service/{today}")
    assert on_day.json() == terms
    for other in ("2020-01-01", "not-a-date"):
        assert (await client.get(f"/api/v1/instance/terms_of_service/{other}")).status_code == 404
    page = await client.get("/about")
    assert (
        "We talk about &lt;b&gt;bikes&lt;/b&gt;." in page.text and "<li>No hate</li>" in page.text
    )
    assert '<a href="/terms">' in page.text
    assert "We keep little." in (await client.get("/privacy-policy")).text
    assert "Use it well.<br>Or leave." in (await client.get("/terms")).text


async def test_bad_settings_are_refused_and_change_nothing(client, db, make_person) -> None:
    await make_admin(db, make_person, "boss")
    await web_sign_in(client, "boss")
    refused = await _save_settings(
        client, instance_privacy_policy="short", domain_blocks_shown="everybody"
    )
    assert refused.status_code == 422
    policy = (await client.get("/api/v1/instance/privacy_policy")).json()
    assert "short" not in policy["content"]
    too_long = await _save_settings(client, instance_terms_of_service="x" * 100_001)
    assert too_long.status_code == 422
    assert (await client.get("/api/v1/instance/terms_of_service")).status_code == 404


async def test_settings_are_a_404_for_someone_not_an_admin(client, make_person) -> None:
    await make_person("mallory")
    await web_sign_in(client, "mallory")
    home = await client.get("/home")
    sent = {"csrf": csrf_of(home.text), "instance_terms_of_service": "Mine now"}
    assert (await client.post("/admin/settings", data=sent)).status_code == 404
    assert (await client.get("/api/v1/instance/terms_of_service")).status_code == 404


async def test_domain_blocks_are_shown_as_the_admins_chose(client, db, make_person) -> None:
    admin = await make_admin(db, make_person, "boss")
    reader = await make_person("reader")
    for domain, severity in (("bad.example", "suspend"), ("meh.example", "noop")):
        r = await client.post(
            BLOCKS, headers=admin.headers, json={"domain": domain, "severity": severity}
        )
        assert r.status_code == 200, r.text
    listed = await client.get("/api/v1/instance/domain_blocks")
    assert [b["domain"] for b in listed.json()] == ["bad.example"]  # noop limits nothing
    assert "bad.example" in (await client.get("/about")).text
    await web_sign_in(client, "boss")
    assert (await _save_settings(client, domain_blocks_shown="users")).status_code == 303
    client.cookies.clear()
    assert (await client.get("/api/v1/instance/domain_blocks")).status_code == 401
    assert "bad.example" not in (await client.get("/about")).text
    signed_in = await client.get("/api/v1/instance/domain_blocks", headers=reader.headers)
    assert [b["domain"] for b in signed_in.json()] == ["bad.example"]
    await web_sign_in(client, "boss")
    assert (await _save_settings(client, domain_blocks_shown="disabled")).status_code == 303
    hidden = await client.get("/api/v1/instance/domain_blocks", headers=reader.headers)
    assert hidden.status_code == 404
    assert "bad.example" not in (await client.get("/about")).text


async def test_activity_counts_weeks_and_peers_list_known_servers(client, db, make_person) -> None:
    alice = await make_person("alice")
    await post_status(client, alice, "hello")
    await post_status(client, alice, "again")
    async with db.session(write=True) as session:
        for domain in ("b.example", "a.example", "a.example", "gone.example"):
            name = f"u{new_id()}"
            session.add(
                Account(
                    username=name,
                    username_lower=f"{name}@{domain}",
                    fields=[],
                    domain=domain,
                    uri=f"https://{domain}/users/{name}",
                    created_at=utcnow() - timedelta(days=30),
                )
            )
        await session.commit()
    admin = await make_admin(db, make_person, "boss")
    r = await client.post(
        BLOCKS, headers=admin.headers, json={"domain": "gone.example", "severity": "suspend"}
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/instance/peers")).json() == ["a.example", "b.example"]
    stats = (await client.get("/api/v1/instance")).json()["stats"]
    assert stats["domain_count"] == 2
    weeks = (await client.get("/api/v1/instance/activity")).json()
    assert len(weeks) == 12
    this_week = weeks[0]
    assert this_week["statuses"] == "2"
    assert this_week["registrations"] == "2"  # alice and boss, not the remote accounts
    assert this_week["logins"] == "2"  # both have an app token made this week
    assert all(w["statuses"] == "0" for w in weeks[1:])
    starts = [int(w["week"]) for w in weeks]
    assert all(a - b == 7 * 86400 for a, b in pairwise(starts))
