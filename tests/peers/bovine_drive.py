"""Drive one bovine actor through bovine's own client-to-server API (Moo-Auth-1, signed with
the actor's Ed25519 key), for the interop tests: run with the bovine environment's Python.

    bovine_drive.py DOMAIN SECRET follow ACTOR_ID     send a Follow of ACTOR_ID
    bovine_drive.py DOMAIN SECRET accept              accept every Follow in the inbox
    bovine_drive.py DOMAIN SECRET post TEXT           a public Note to the followers
    bovine_drive.py DOMAIN SECRET inbox               print the inbox's activities (JSON)
    bovine_drive.py DOMAIN SECRET followers           print the followers' ids (JSON)
"""

import asyncio
import json
import sys

from bovine import BovineClient


async def _items(client: BovineClient, collection: str) -> list:
    """The collection's items, each read through the actor's proxyUrl (from bovine's store:
    an activity's id need not be fetchable from its origin)."""
    found = []
    async for item in client.collection_helper(collection, resolve=False):
        found.append(await client.proxy(item) if isinstance(item, str) else item)
    return found


def _id(value: object) -> str:
    return str(value.get("id") if isinstance(value, dict) else value)


async def main(domain: str, secret: str, command: str, *args: str) -> None:
    async with BovineClient(domain=domain, secret=secret) as client:
        activities, objects = client.factories
        if command == "follow":
            await client.send_to_outbox(activities.follow(args[0]).build())
        elif command == "accept":
            for item in await _items(client, client.information["inbox"]):
                if isinstance(item, dict) and item.get("type") == "Follow":
                    follow = {"id": item["id"], "type": "Follow"}
                    follow |= {k: _id(item[k]) for k in ("actor", "object")}
                    accept = activities.accept(follow).build()  # addressed to its actor
                    await client.send_to_outbox(accept)
        elif command == "post":
            note = objects.note(content=args[0]).as_public().build()
            await client.send_to_outbox(activities.create(note).build())
        elif command == "inbox":
            print(json.dumps(await _items(client, client.information["inbox"])))
        elif command == "followers":
            print(json.dumps(await _items(client, client.information["followers"])))
        else:
            raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
