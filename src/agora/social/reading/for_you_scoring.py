"""The For You score: a documented weighted sum (docs/RANKING.md), pure and deterministic.

Invariants:
- every ranked post's `contributions` add up to its `score` (to rounding of the float sum);
  the ranking reads nothing but the `Features` given and the weights, so the same state gives
  the same order (ties: the newer post first);
- a weight of 0 removes its term (and its reason); the two factors (`out_of_network`,
  `author_diversity`) at 1 remove theirs;
- reasons name no person: they say counts ("liked by 3 people you follow") and hashtags only.

The terms, for one post (log1p: ln(1 + n), so the hundredth like adds less than the first):

    base = likes·log1p(likes) + replies·log1p(replies) + boosts·log1p(boosts)
         + quotes·log1p(quotes) + network_likes·log1p(likes by people you follow)
         + author_follows·log1p(people you follow who follow the author)
         + in_network·[you follow the author] + trending·[has a trending hashtag]
         + similar·log1p(likes by people who like what you like)
         + bridging·log1p(min(likes inside your network, likes outside it))
         + recency·(1 - age/48 h) + show_more·(times you asked for more of the author)
         + show_less·(times you asked for less of the author, or reported them)
         + assistant·[written by the assistant or labelled AI-generated]
    out_of_network = (factor - 1)·max(base, 0)          when you do not follow the author
    author_diversity = (factor^k - 1)·max(base + out_of_network, 0)
                       for the author's k-th post in the order before this term (k = 0, 1, …)
    score = base + out_of_network + author_diversity
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class WeightSpec:
    """One weight: its default, the range a person may set it in, and what it is about."""

    default: float
    low: float
    high: float
    label: str


WEIGHTS: dict[str, WeightSpec] = {
    "likes": WeightSpec(1.0, 0.0, 5.0, "Likes"),
    "replies": WeightSpec(1.0, 0.0, 5.0, "Replies"),
    "boosts": WeightSpec(1.5, 0.0, 5.0, "Boosts"),
    "quotes": WeightSpec(1.0, 0.0, 5.0, "Quotes"),
    "network_likes": WeightSpec(2.0, 0.0, 5.0, "Liked by people you follow"),
    "author_follows": WeightSpec(1.0, 0.0, 5.0, "Author followed by people you follow"),
    "in_network": WeightSpec(2.0, 0.0, 5.0, "From people you follow"),
    "trending": WeightSpec(1.0, 0.0, 5.0, "Trending hashtags"),
    "similar": WeightSpec(1.0, 0.0, 5.0, "Liked by people with your taste"),
    "bridging": WeightSpec(1.5, 0.0, 5.0, "Liked across your network and beyond"),
    "recency": WeightSpec(2.0, 0.0, 5.0, "Newer posts"),
    "show_more": WeightSpec(1.5, 0.0, 5.0, "You asked for more like this"),
    "show_less": WeightSpec(-3.0, -10.0, 0.0, "You asked for less like this"),
    "assistant": WeightSpec(0.0, -10.0, 0.0, "Assistant and AI-labelled posts"),
    "out_of_network": WeightSpec(0.75, 0.0, 1.0, "Posts from outside your network (factor)"),
    "author_diversity": WeightSpec(0.6, 0.0, 1.0, "Same author again (factor)"),
}
"""Every weight, by name. The last two are factors (1 = no effect), the rest multiply their
feature. `show_less` and `assistant` are at most 0: they can only push posts down."""

FACTORS = ("out_of_network", "author_diversity")
WINDOW_HOURS = 48.0


def check_weights(values: Mapping[str, object]) -> dict[str, float]:
    """`values` as weights, or ValueError naming the first unknown name or bad value."""
    out: dict[str, float] = {}
    for name, raw in values.items():
        spec = WEIGHTS.get(name)
        if spec is None:
            raise ValueError(f"Unknown weight: {name}")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"{name} must be a number")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number") from None
        if not math.isfinite(value) or not spec.low <= value <= spec.high:
            raise ValueError(f"{name} must be between {spec.low:g} and {spec.high:g}")
        out[name] = value
    return out


class Features(NamedTuple):
    """What the ranking knows of one candidate (counts the viewer may know; no names). A
    tuple of plain values: a kept ranking of thousands is no work for the garbage
    collector."""

    post_id: int
    author_id: int
    age_hours: float
    likes: int = 0
    replies: int = 0
    boosts: int = 0
    quotes: int = 0
    network_likes: int = 0
    author_follows: int = 0
    followed: bool = False
    trending_tag: str | None = None
    similar_likes: int = 0
    more: int = 0
    less: int = 0
    reported: int = 0  # reports the viewer filed about the author: each counts as a "less"
    assistant: bool = False


BASE_TERMS = (
    "likes",
    "replies",
    "boosts",
    "quotes",
    "network_likes",
    "author_follows",
    "in_network",
    "trending",
    "similar",
    "bridging",
    "recency",
    "show_more",
    "show_less",
    "assistant",
)
"""The weights of `base`, in the order of the columns of `_values`."""


def _values(candidates: list[Features]) -> npt.NDArray[np.float64]:
    """What each weight of `BASE_TERMS` multiplies, one row per candidate."""
    raw = np.array(
        [
            (
                f.likes,
                f.replies,
                f.boosts,
                f.quotes,
                f.network_likes,
                f.author_follows,
                f.followed,
                f.trending_tag is not None,
                f.similar_likes,
                f.age_hours,
                f.more,
                f.less + f.reported,
                f.assistant,
            )
            for f in candidates
        ],
        dtype=np.float64,
    ).reshape(len(candidates), 13)
    likes, replies, boosts, quotes, network, follows = raw[:, :6].T
    followed, trending, similar, age, more, less, assistant = raw[:, 6:].T
    outside = np.maximum(likes - network, 0.0)
    return np.column_stack(
        [
            np.log1p(likes),
            np.log1p(replies),
            np.log1p(boosts),
            np.log1p(quotes),
            np.log1p(network),
            np.log1p(follows),
            followed,
            trending,
            np.log1p(similar),
            np.log1p(np.minimum(network, outside)),
            np.maximum(0.0, 1.0 - age / WINDOW_HOURS),
            more,
            less,
            assistant,
        ]
    )


def _reasons(f: Features) -> list[str]:
    """What a person reads about a candidate: counts and hashtags, never a name."""
    outside_likes = max(f.likes - f.network_likes, 0)
    reasons = []
    if f.followed:
        reasons.append("From someone you follow")
    if f.network_likes:
        reasons.append(f"Liked by {_plural(f.network_likes, 'person', 'people')} you follow")
    if f.author_follows and not f.followed:
        who = _plural(f.author_follows, "person", "people")
        reasons.append(f"Its author is followed by {who} you follow")
    if f.trending_tag is not None:
        reasons.append(f"Trending in #{f.trending_tag}")
    if f.similar_likes:
        reasons.append("Liked by people who like what you like")
    if f.network_likes and outside_likes:
        reasons.append("Liked both inside and outside your network")
    if f.more:
        reasons.append("You asked for more from this author")
    if f.less:
        reasons.append("You asked for less from this author")
    if f.reported:
        reasons.append("You reported this author")
    if f.assistant:
        reasons.append("Written by the assistant or labelled AI-generated")
    engagement = [
        _plural(n, one, many)
        for n, one, many in (
            (f.likes, "like", "likes"),
            (f.replies, "reply", "replies"),
            (f.boosts, "boost", "boosts"),
            (f.quotes, "quote", "quotes"),
        )
        if n
    ]
    if engagement:
        reasons.append(", ".join(engagement))
    return reasons


class Ranked(NamedTuple):
    """A ranked post: its score, the contribution of each weight (summing to the score) and
    the reasons a person reads (both worked out when read, from the features and the terms
    kept: a tuple of plain values, like `Features`)."""

    post_id: int
    author_id: int
    score: float
    features: Features
    terms: tuple[float, ...]  # weight times value, in the order of BASE_TERMS
    out_of_network: float
    author_diversity: float

    @property
    def contributions(self) -> dict[str, float]:
        """Each weight's part of the score (those that add nothing left out)."""
        out = {name: v for name, v in zip(BASE_TERMS, self.terms, strict=True) if v}
        if self.out_of_network:
            out["out_of_network"] = self.out_of_network
        if self.author_diversity:
            out["author_diversity"] = self.author_diversity
        return out

    @property
    def reasons(self) -> list[str]:
        """Why the post is here, as the person reads it."""
        reasons = _reasons(self.features)
        if self.author_diversity:
            reasons.append("Shown lower: more posts of this author are above it")
        return reasons


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _order(scores: npt.NDArray[np.float64], post_ids: npt.NDArray[np.int64]) -> list[int]:
    """Rows by score, then the newer post first."""
    return [int(i) for i in np.lexsort((-post_ids, -scores))]


def rank(candidates: list[Features], weights: Mapping[str, float]) -> list[Ranked]:
    """The candidates in For You order, each with its contributions and reasons (all the
    candidates scored at once with numpy)."""
    if not candidates:
        return []
    w = np.array([weights[name] for name in BASE_TERMS], dtype=np.float64)
    terms = _values(candidates) * w
    base = terms.sum(axis=1)
    followed = np.array([f.followed for f in candidates], dtype=bool)
    out_of_network = np.where(
        followed, 0.0, (weights["out_of_network"] - 1.0) * np.maximum(base, 0.0)
    )
    before = base + out_of_network
    post_ids = np.array([f.post_id for f in candidates], dtype=np.int64)
    seen: dict[int, int] = {}
    earlier = np.zeros(len(candidates), dtype=np.float64)
    for row in _order(before, post_ids):
        author = candidates[row].author_id
        earlier[row] = seen.get(author, 0)
        seen[author] = int(earlier[row]) + 1
    diversity = (weights["author_diversity"] ** earlier - 1.0) * np.maximum(before, 0.0)
    scores = before + diversity
    rows = terms.tolist()
    return [
        Ranked(
            candidates[row].post_id,
            candidates[row].author_id,
            float(scores[row]),
            candidates[row],
            tuple(rows[row]),
            float(out_of_network[row]),
            float(diversity[row]),
        )
        for row in _order(scores, post_ids)
    ]
