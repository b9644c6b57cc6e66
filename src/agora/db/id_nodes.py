"""Id nodes: each server or worker process claims one at start, so that processes sharing a
database make disjoint ids (see agora.ids)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from agora.db.models import IdNode, utcnow
from agora.ids import use_node


async def claim_node(engine: AsyncEngine) -> int:
    """Claim a node for this process's ids from the database (a new `id_nodes` row; its
    number modulo 32 is the node) and use it. Called when a server or worker starts."""
    async with engine.begin() as conn:
        result = await conn.execute(insert(IdNode).values(claimed_at=utcnow()))
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row has its primary key
        claim = int(key[0])
    use_node(claim)
    return claim
