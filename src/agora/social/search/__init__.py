"""Search: posts (full text on SQLite FTS5 or PostgreSQL), people and hashtags.

One module for every door (API, web, assistant): `search_posts` and `best_matching_posts`
(posts.py, with the rule for who may find what), `search_accounts` (accounts.py),
`search_hashtags` (hashtags.py), and `kinds_for` (kinds.py: which of them a query looks for).
The index itself is in index.py, query parsing in query.py, relevance in rank.py.
"""

from agora.social.search.account_search import search_accounts
from agora.social.search.hashtags import search_hashtags
from agora.social.search.posts import (
    PostFilter,
    best_matching_posts,
    search_posts,
    searchable_by,
)
from agora.social.search.query import MAX_QUERY_CHARS, TextQuery, parse
from agora.social.search.query_kinds import kinds_for

__all__ = [
    "MAX_QUERY_CHARS",
    "PostFilter",
    "TextQuery",
    "best_matching_posts",
    "kinds_for",
    "parse",
    "search_accounts",
    "search_hashtags",
    "search_posts",
    "searchable_by",
]
