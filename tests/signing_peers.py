"""Remote actors for the single-server federation tests: an account of another server stored
here with a key pair the test holds, so the test can sign deliveries as that server would
and post them to this server's inbox (in process, no network)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from agora.db.models import Job
from agora.federation.actors import RemoteActor, store_actor
from agora.federation.keys import generate_key_pair
from agora.federation.signatures import sign_cavage

BASE = "http://testserver"
# Deliveries to the peers are refused at once (a loopback address, refused by the client's
# SSRF guard), so their jobs stay queued for the tests to read, and nothing leaves the machine.
DEAD_INBOX = "http://127.0.0.1:9/inbox"


@dataclass
class Peer:
    """A remote account whose private key the test holds."""

    id: int
    uri: str
    domain: str
    private_pem: str

    def activity(self, kind: str, obj: Any, suffix: str, **extra: Any) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"https://{self.domain}/activities/{suffix}",
            "type": kind,
            "actor": self.uri,
            "object": obj,
            **extra,
        }


async def make_peer(db: Any, name: str, domain: str = "remote.example") -> Peer:
    """A remote account `name@domain`, stored as if fetched, with a key the test holds."""
    pair = generate_key_pair()
    uri = f"https://{domain}/users/{name}"
    actor = RemoteActor(
        uri=uri,
        username=name,
        domain=domain,
        display_name=name.title(),
        note_html="",
        url=f"https://{domain}/@{name}",
        inbox=DEAD_INBOX,
        shared_inbox=None,
        followers=f"{uri}/followers",
        public_key_pem=pair.public_pem,
        locked=False,
        bot=False,
        discoverable=True,
    )
    async with db.session(write=True) as session:
        account = await store_actor(session, actor)
        await session.commit()
        return Peer(account.id, uri, domain, pair.private_pem)


def signed_headers(peer: Peer, method: str, path: str, body: bytes | None) -> dict[str, str]:
    headers = sign_cavage(
        method, BASE + path, body, key_id=f"{peer.uri}#main-key", private_pem=peer.private_pem
    )
    return {"Content-Type": "application/activity+json", **headers}


async def deliver(
    client: httpx.AsyncClient, peer: Peer, activity: dict[str, Any], path: str = "/inbox"
) -> httpx.Response:
    """POST a signed activity from `peer` to this server's inbox."""
    body = json.dumps(activity).encode()
    return await client.post(path, content=body, headers=signed_headers(peer, "POST", path, body))


async def queued(db: Any, kind: str) -> list[dict[str, Any]]:
    """Payloads of the jobs of one kind still in the queue, oldest first."""
    async with db.session() as session:
        rows = await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))
        return [job.payload for job in rows]
