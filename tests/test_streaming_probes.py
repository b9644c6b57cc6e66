"""The visibility probes on both stream wires (SSE and WebSocket): a live `update` of a public
post carries what it embeds (a quoted post, a boosted post) only to listeners who may see it,
checked per listener, not as whoever rendered the event first.

Secrets: a public post of someone who blocked the listener, a followers-only post and a direct
message. Each is quoted by a public post of a stranger (rows made directly where the service
would refuse the quote) and boosted by a row no service would make.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update

from agora.db.models import Post
from helpers import follow, post_status
from streaming_support import Harness

STREAMS = (("user", {}), ("public", {}), ("hashtag", {"tag": "probe"}))


async def _listen_all(h: Harness, person: Any) -> list[Any]:
    """One listener per stream and per wire."""
    out = []
    for wire in ("sse", "ws"):
        for name, params in STREAMS:
            if person is None and name == "user":
                continue
            listener = await h.listen(person, name, **params)
            listener.wire = wire
            out.append(listener)
    return out


async def _payloads(listeners: list[Any]) -> list[dict[str, Any]]:
    """The `update` payloads waiting on listeners of either wire, decoded."""
    found = []
    for listener in listeners:
        while listener.pending():
            frame = await listener.next_frame()
            if isinstance(frame, bytes):  # SSE: event: NAME / data: PAYLOAD
                head, data = frame.decode().rstrip("\n").split("\n")
                event, payload = head.removeprefix("event: "), data.removeprefix("data: ")
            else:  # WebSocket: {"stream", "event", "payload" (a JSON string)}
                message = json.loads(frame)
                event, payload = message["event"], message["payload"]
            if event == "update":
                found.append(json.loads(payload))
    return found


async def _craft(db: Any, post_id: str, **values: Any) -> None:
    async with db.session(write=True) as session:
        await session.execute(update(Post).where(Post.id == int(post_id)).values(**values))
        await session.commit()


async def test_quotes_and_boosts_on_streams_are_checked_per_listener(
    client, db, make_person, run_jobs, harness
):
    olive, bea, rex, sam, fred = [
        await make_person(n) for n in ("olive", "bea", "rex", "sam", "fred")
    ]
    for who, whom in ((sam, rex), (fred, rex), (fred, olive)):
        await follow(client, who, whom)
    r = await client.post(f"/api/v1/accounts/{sam.id}/block", headers=bea.headers)
    assert r.status_code == 200
    secrets = {
        "zqblockerx": await post_status(client, bea, status="zqblockerx hello"),
        "zqprivatex": await post_status(
            client, olive, status="zqprivatex hi", visibility="private"
        ),
        "zqdirectx": await post_status(
            client, olive, status="zqdirectx @fred", visibility="direct"
        ),
    }
    await run_jobs()
    listeners = {
        "sam": await _listen_all(harness, sam),
        "fred": await _listen_all(harness, fred),
        "anyone": await _listen_all(harness, None),
    }
    for marker, secret in secrets.items():
        quote = await post_status(client, rex, status=f"rex quotes #probe {marker[2:-1]}")
        boost = await post_status(client, rex, status=f"rex boosts #probe {marker[2:-1]}")
        await _craft(db, quote["id"], quote_of_id=int(secret["id"]))
        await _craft(db, boost["id"], reblog_of_id=int(secret["id"]))
    await run_jobs()
    await harness.pump()
    got = {name: await _payloads(found) for name, found in listeners.items()}

    for payload in got["sam"] + got["anyone"]:
        text = json.dumps(payload)
        visible = {"zqblockerx"} if payload in got["anyone"] else set()
        assert not [m for m in secrets if m in text and m not in visible], payload
    # sam: every quote arrives (its quote unauthorized), no boost of a secret does
    quotes = [p for p in got["sam"] if p["quote"] is not None]
    assert len(quotes) == 3 * 3 * 2  # three quotes on user, public and hashtag, both wires
    assert {p["quote"]["state"] for p in quotes} == {"unauthorized"}
    assert all(p["reblog"] is None for p in got["sam"])
    # fred may see all three secrets: he gets them quoted, on every stream and wire
    fred_quotes = [p["quote"] for p in got["fred"] if p["quote"] is not None]
    assert len(fred_quotes) == 3 * 3 * 2
    assert {q["state"] for q in fred_quotes} == {"accepted"}
    assert all(m in json.dumps(got["fred"]) for m in secrets)
