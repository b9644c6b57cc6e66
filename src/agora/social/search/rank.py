"""Relevance, computed the same way on both backends: BM25 over the candidate posts.

Full-text engines rank differently (FTS5's bm25, PostgreSQL's ts_rank), and ranking every
match of a common word is what makes search slow on a large server. So the index only finds
the newest matches (see search.posts for the window) and this module ranks them: BM25 with
the inverse document frequency taken over the candidates, a bonus when the words appear as
typed (in that order, next to each other), and the newest post first among equals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from agora.social.search.query import fold, words

K1 = 1.2
B = 0.75
PHRASE_BONUS = 1.5


def rank(candidates: Iterable[Sequence[Any]], wanted: list[str]) -> list[int]:
    """Ids of (id, text, spoiler_text) candidates, most relevant first."""
    terms = list(dict.fromkeys(fold(w) for w in wanted))
    wanted_set = set(terms)
    phrase = f" {' '.join(terms)} " if len(terms) > 1 else None
    docs = []
    for post_id, body, spoiler in candidates:
        tokens = words(f"{body} {spoiler}")
        counts: dict[str, int] = {}
        for token in tokens:
            if token in wanted_set:
                counts[token] = counts.get(token, 0) + 1
        in_order = phrase is not None and phrase in f" {' '.join(tokens)} "
        docs.append((post_id, max(len(tokens), 1), counts, in_order))
    if not docs:
        return []
    average = sum(d[1] for d in docs) / len(docs)
    idf = {t: _idf(len(docs), sum(1 for d in docs if t in d[2])) for t in terms}
    scored = []
    for post_id, length, counts, in_order in docs:
        norm = K1 * (1 - B + B * length / average)
        score = sum(idf[t] * n * (K1 + 1) / (n + norm) for t, n in counts.items())
        scored.append((score * (PHRASE_BONUS if in_order else 1.0), post_id))
    scored.sort(key=lambda s: (-s[0], -s[1]))
    return [post_id for _, post_id in scored]


def _idf(total: int, containing: int) -> float:
    return math.log(1 + (total - containing + 0.5) / (containing + 0.5))
