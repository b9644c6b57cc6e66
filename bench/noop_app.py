"""The ceiling bench.http measures against: a bare FastAPI app on the same uvicorn, one GET
answering `{"ok":true}` rendered by orjson, no middleware, no database."""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from fastapi.responses import Response


def create_noop_app() -> FastAPI:
    """The app (a factory, as uvicorn --factory loads Agora's)."""
    app = FastAPI()

    @app.get("/noop")
    async def noop() -> Response:
        return Response(orjson.dumps({"ok": True}), media_type="application/json")

    return app
