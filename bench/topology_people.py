"""The people of the topology test (bench/topology.py) as Locust users: each takes one seeded
account and its token, then reads home (60 %), posts (10 %, a fifth with an image), likes or
boosts a post it saw (15 %) and reads its notifications (10 %), pausing between actions.

Run by `locust -f bench/topology_people.py --headless` as bench/topology.py starts it, with:
TOPOLOGY_PEOPLE (a JSON file: [{"id": account id, "token": bearer token}], and post ids to
like when nothing was seen yet), TOPOLOGY_LOG (where each request is written, a JSON line:
kind `k`, status `s` (0: no answer), start `t` (epoch seconds), duration `d`, account `a`, the
post made or acted on `p`). The user class `HomeReader` (named on locust's command line)
only reads home timelines without pausing: the throughput comparison of 1 and 2 web
processes."""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import time
import uuid
from typing import Any

from locust import FastHttpUser, between, constant, task
from PIL import Image

SETUP = json.loads(open(os.environ["TOPOLOGY_PEOPLE"]).read())  # noqa: SIM115
LOG = open(os.environ["TOPOLOGY_LOG"], "a", buffering=1)  # noqa: SIM115
NEXT = itertools.count()
BOUNDARY = "topologyboundary"


def _png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((96, 64), 60).convert("RGB").save(out, "PNG")
    return out.getvalue()


PNG = _png()
UPLOAD = (
    (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    + PNG
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)


class Account(FastHttpUser):
    """One seeded account, its token, and each request written to the log."""

    abstract = True

    def on_start(self) -> None:
        """Take the next account (round robin over the seeded people)."""
        me = SETUP["people"][next(NEXT) % len(SETUP["people"])]
        self.account = int(me["id"])
        self.auth = {"Authorization": f"Bearer {me['token']}"}
        self.seen: list[str] = list(SETUP["posts"])

    def _call(
        self, kind: str, method: str, path: str, post: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        started = time.time()
        response = self.client.request(method, path, headers=headers, name=kind, **kwargs)
        status = response.status_code or 0
        body: Any = None
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
        if kind == "post" and isinstance(body, dict):
            post = body.get("id")
        record = {"k": kind, "s": status, "t": started, "d": time.time() - started}
        LOG.write(json.dumps({**record, "a": self.account, "p": post}) + "\n")
        return body

    def read_home(self) -> None:
        """Read the first page of the home timeline; remember what was on it."""
        page = self._call("home", "GET", "/api/v1/timelines/home?limit=20")
        if isinstance(page, list) and page:
            self.seen = [s["id"] for s in page if not s.get("reblog")][:20] or self.seen


class HomeReader(Account):
    """Home timeline reads as fast as the server answers."""

    wait_time = constant(0)

    @task
    def home(self) -> None:
        """Read home."""
        self.read_home()


class Person(Account):
    """The issue's mix of people, pausing between actions."""

    wait_time = between(0.5, 2.5)

    @task(60)
    def home(self) -> None:
        """Read home."""
        self.read_home()

    @task(8)
    def post(self) -> None:
        """Post a public status (a unique text, so a double post would show)."""
        form = {"status": f"topology {uuid.uuid4().hex}", "visibility": "public"}
        self._call("post", "POST", "/api/v1/statuses", json=form)

    @task(2)
    def post_with_image(self) -> None:
        """Upload an image, then post with it."""
        media = self._call(
            "media",
            "POST",
            "/api/v2/media",
            data=UPLOAD,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        if isinstance(media, dict) and media.get("id"):
            form = {"status": f"topology {uuid.uuid4().hex}", "media_ids": [media["id"]]}
            self._call("post", "POST", "/api/v1/statuses", json=form)

    @task(8)
    def like(self) -> None:
        """Like a post seen on the home timeline."""
        target = random.choice(self.seen)
        self._call("like", "POST", f"/api/v1/statuses/{target}/favourite", post=target)

    @task(7)
    def boost(self) -> None:
        """Boost a post seen on the home timeline."""
        target = random.choice(self.seen)
        self._call("boost", "POST", f"/api/v1/statuses/{target}/reblog", post=target)

    @task(10)
    def notifications(self) -> None:
        """Read the first page of notifications."""
        self._call("notifications", "GET", "/api/v1/notifications?limit=20")
