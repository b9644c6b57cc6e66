"""The ActivityPub ids of posts: one function makes a post's id, for every door that shows it
(the Mastodon API's `uri`, federation's Note and Announce ids, the CSV exports and the
archive), so they never disagree.

A remote post's id is the one its server gave it (`posts.uri`); a local post's is made from its
author's actor id: `{base_url}/users/{username}/statuses/{id}` (a boost's activity adds
`/activity`). `local_post_ref` reads one back (or the post's page URL, `/@{username}/{id}`),
for every door that is handed one (received activities, CSV imports, reports).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from agora.config import get_settings

LOCAL_POST_PATH = re.compile(
    r"^/(?:users/([A-Za-z0-9_]{1,30})/statuses|@([A-Za-z0-9_]{1,30}))/(\d{1,20})$"
)


def local_actor_uri(username: str) -> str:
    """A local account's ActivityPub id."""
    return f"{get_settings().base_url.rstrip('/')}/users/{quote(username)}"


def post_uri(post_id: int, uri: str | None, author_username: str) -> str:
    """A post's ActivityPub id: its stored `uri` when remote, else made from its local
    author's actor id."""
    return uri or f"{local_actor_uri(author_username)}/statuses/{post_id}"


def boost_activity_uri(boost_id: int, booster_username: str) -> str:
    """The id of the Announce a local boost is (Mastodon's `/statuses/:id/activity`)."""
    return f"{local_actor_uri(booster_username)}/statuses/{boost_id}/activity"


def is_local_uri(uri: str) -> bool:
    """Whether a URL is on this server."""
    return urlsplit(uri).netloc.lower() == urlsplit(get_settings().base_url).netloc.lower()


def local_post_ref(uri: str) -> tuple[str, int] | None:
    """(author's username, post id) of a local post's ActivityPub id or page URL on this
    server; None for anything else. Whether the post exists is the caller's to check."""
    if not is_local_uri(uri):
        return None
    found = LOCAL_POST_PATH.match(urlsplit(uri).path)
    if found is None:
        return None
    return found.group(1) or found.group(2), int(found.group(3))
