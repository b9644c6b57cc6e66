"""Which kinds of results a query looks for, as Mastodon decides it for every door."""

from __future__ import annotations

ACCOUNTS, HASHTAGS, STATUSES = "accounts", "hashtags", "statuses"


def kinds_for(q: str, signed_in: bool) -> set[str]:
    """`#…` looks for hashtags (and posts), `…@…` for accounts, a lone `#tag` or `@handle`
    for no posts; posts only for someone signed in."""
    lone_word = " " not in q
    kinds = set()
    if not (q.startswith("#") or ("@" in q and not lone_word)):
        kinds.add(ACCOUNTS)
    if "@" not in q:
        kinds.add(HASHTAGS)
    if signed_in and not (lone_word and (q.startswith("#") or "@" in q)):
        kinds.add(STATUSES)
    return kinds
