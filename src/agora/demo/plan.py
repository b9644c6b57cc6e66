"""The demo data set, planned in memory before anything is written (see agora.demo.seed).

Accounts, posts and tags are numbered 0..n-1 here; `agora.demo.seed` turns the numbers into ids.
The shape is that of a real network: power-law follower counts (a few accounts followed by
thousands), heavy-tailed posting activity, replies forming threads, boosts and quotes of
popular recent posts, hashtags and mentions, mostly public posts, likes from followers.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from itertools import accumulate

from agora.db.models import Visibility

DAY_MS = 86_400_000
WINDOW_DAYS = 30
NONE = -1
RECENT = 8

PUBLIC, UNLISTED, PRIVATE, DIRECT = (int(v) for v in Visibility)

_WORD_LIST = (
    "the a and of to in is it you that was for on are with as at be this have from or one had "
    "by word but not what all were we when your can said there use an each which she do how "
    "their if will up other about out many then them these so some her would make like him into "
    "time has look two more write go see number no way could people my than first water been "
    "call who oil its now find long down day did get come made may part coffee garden train "
    "music book film rain sun river city night morning code bug release server open source "
    "federation privacy data model cat dog bread tea bike walk photo sky mountain sea friend "
    "weekend idea question answer thread today tomorrow yesterday really great little big new"
)

_TAG_LIST = (
    "agora photography caturday music books coffee opensource python rust gardening cycling "
    "hiking cooking baking art science space climate news politics football travel food "
    "programming linux privacy ai datasets fediverse writing poetry film tv gaming history "
    "maths physics biology birds cats dogs nature weather running climbing design typography "
    "jazz vinyl cinema theatre knitting"
)
WORDS = _WORD_LIST.split()
TAGS = _TAG_LIST.split()


@dataclass(slots=True)
class Posts:
    """Columns of the planned posts, in id order (index i is older than i + 1)."""

    ms: list[int] = field(default_factory=list)
    author: list[int] = field(default_factory=list)
    visibility: list[int] = field(default_factory=list)
    reply_to: list[int] = field(default_factory=list)
    reply_account: list[int] = field(default_factory=list)
    root: list[int] = field(default_factory=list)
    reblog_of: list[int] = field(default_factory=list)
    quote_of: list[int] = field(default_factory=list)
    mentions: dict[int, list[int]] = field(default_factory=dict)
    tags: dict[int, list[int]] = field(default_factory=dict)
    boosts_of: dict[int, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ms)


@dataclass(slots=True)
class Plan:
    """Everything the seeder writes, as plain numbers."""

    users: int
    now_ms: int
    account_ms: list[int]
    followers: list[list[int]]
    following: list[set[int]]
    follow_ms: dict[tuple[int, int], int]
    posts: Posts
    favourites: list[tuple[int, int, int]]  # (ms, account, post), sorted by ms
    by_author: list[list[int]]


def build_plan(users: int, posts: int, seed: int, now_ms: int) -> Plan:
    """Plan `users` accounts and `posts` posts (boosts included) ending at `now_ms`."""
    rng = random.Random(seed)
    account_ms = sorted(
        now_ms - rng.randint(WINDOW_DAYS + 1, 3 * WINDOW_DAYS) * DAY_MS - rng.randint(0, DAY_MS)
        for _ in range(users)
    )
    followers, following = _follow_graph(rng, users)
    start = now_ms - WINDOW_DAYS * DAY_MS
    follow_ms = {
        (f, t): rng.randint(max(account_ms[f], account_ms[t]), start)
        for t, fs in enumerate(followers)
        for f in fs
    }
    planned = _PostWriter(rng, users, followers).write(
        _strictly_increasing(rng, posts, start, now_ms)
    )
    by_author: list[list[int]] = [[] for _ in range(users)]
    for i, a in enumerate(planned.author):
        by_author[a].append(i)
    favs = _favourites(rng, planned, followers, users, now_ms)
    return Plan(
        users, now_ms, account_ms, followers, following, follow_ms, planned, favs, by_author
    )


def _strictly_increasing(rng: random.Random, count: int, start: int, end: int) -> list[int]:
    """`count` random millisecond times in [start, end), sorted, no two alike."""
    times = sorted(rng.randrange(start, end) for _ in range(count))
    for i in range(1, count):
        if times[i] <= times[i - 1]:
            times[i] = times[i - 1] + 1
    return times


def _follow_graph(rng: random.Random, users: int) -> tuple[list[list[int]], list[set[int]]]:
    """Pareto follower counts (alpha 1.1, min 3); followers drawn by a per-person sociability
    weight, so the number of accounts one follows is heavy-tailed too."""
    sociability = [rng.lognormvariate(0.0, 0.8) for _ in range(users)]
    cum = list(accumulate(sociability))
    followers: list[list[int]] = []
    following: list[set[int]] = [set() for _ in range(users)]
    for target in range(users):
        want = min(users - 1, int(3 * rng.paretovariate(1.1)))
        chosen = _weighted_sample(rng, users, cum, sociability, want, target)
        followers.append(sorted(chosen))
        for f in chosen:
            following[f].add(target)
    return followers, following


def _weighted_sample(
    rng: random.Random, n: int, cum: list[float], weights: list[float], k: int, exclude: int
) -> set[int]:
    """k distinct numbers of range(n) without `exclude`, drawn by weight."""
    if k <= 0:
        return set()
    if k > n // 4:
        keys = ((rng.random() ** (1.0 / weights[i]), i) for i in range(n) if i != exclude)
        return {i for _, i in heapq.nlargest(k, keys)}
    chosen: set[int] = set()
    population = range(n)
    while len(chosen) < k:
        for i in rng.choices(population, cum_weights=cum, k=2 * (k - len(chosen)) + 4):
            if i != exclude:
                chosen.add(i)
                if len(chosen) == k:
                    break
    return chosen


class _PostWriter:
    """Decides, post by post in time order, what each one is."""

    def __init__(self, rng: random.Random, users: int, followers: list[list[int]]) -> None:
        self.rng = rng
        self.users = users
        self.followers = followers
        reach = [len(f) + 1.0 for f in followers]
        self.pop_cum = list(accumulate(reach))
        activity = [rng.lognormvariate(0.0, 1.2) * (1 + math.log(r)) for r in reach]
        self.act_cum = list(accumulate(activity))
        self.tag_cum = list(accumulate(1.0 / (r + 1) for r in range(len(TAGS))))
        self.recent: list[deque[int]] = [deque(maxlen=RECENT) for _ in range(users)]
        self.boosted: set[tuple[int, int]] = set()
        self.p = Posts()

    def write(self, times: list[int]) -> Posts:
        """Plan one post per time in `times`."""
        population = range(self.users)
        authors = self.rng.choices(population, cum_weights=self.act_cum, k=len(times))
        targets = self.rng.choices(population, cum_weights=self.pop_cum, k=len(times))
        for ms, author, target in zip(times, authors, targets, strict=True):
            self._one(ms, author, target)
        return self.p

    def _append(self, ms: int, author: int, vis: int, **links: int) -> int:
        p = self.p
        i = len(p.ms)
        p.ms.append(ms)
        p.author.append(author)
        p.visibility.append(vis)
        p.reply_to.append(links.get("reply_to", NONE))
        p.reply_account.append(links.get("reply_account", NONE))
        p.root.append(links.get("root", NONE))
        p.reblog_of.append(links.get("reblog_of", NONE))
        p.quote_of.append(links.get("quote_of", NONE))
        if vis <= UNLISTED and links.get("reblog_of", NONE) == NONE:
            self.recent[author].append(i)
        return i

    def _one(self, ms: int, author: int, target: int) -> None:
        roll = self.rng.random()
        if roll < 0.22:
            parent = self._pick(author if roll < 0.05 else target)
            if parent != NONE:
                self._reply(ms, author, parent)
                return
        elif roll < 0.34:
            original = self._pick(target)
            if original != NONE and target != author and (author, original) not in self.boosted:
                self._boost(ms, author, original)
                return
        elif roll < 0.38:
            quoted = self._pick(target)
            if quoted != NONE:
                self._original(ms, author, quote_of=quoted)
                return
        self._original(ms, author)

    def _pick(self, account: int) -> int:
        recent = self.recent[account]
        return recent[self.rng.randrange(len(recent))] if recent else NONE

    def _visibility(self) -> int:
        roll = self.rng.random()
        return (
            PUBLIC
            if roll < 0.80
            else UNLISTED
            if roll < 0.90
            else PRIVATE
            if roll < 0.98
            else DIRECT
        )

    def _original(self, ms: int, author: int, quote_of: int = NONE) -> None:
        vis = self._visibility() if quote_of == NONE else PUBLIC
        i = self._append(ms, author, vis, quote_of=quote_of)
        mentioned: list[int] = []
        if vis == DIRECT:
            pool = self.followers[author]
            mentioned = self.rng.sample(pool, min(len(pool), self.rng.randint(1, 2)))
            if not mentioned:
                mentioned = [self._someone(author)]
        elif self.rng.random() < 0.10:
            mentioned = [self._someone(author)]
        self._decorate(i, mentioned)

    def _someone(self, author: int) -> int:
        other = self.rng.choices(range(self.users), cum_weights=self.pop_cum)[0]
        return other if other != author else (author + 1) % self.users

    def _reply(self, ms: int, author: int, parent: int) -> None:
        p = self.p
        vis = max(p.visibility[parent], self._visibility() if self.rng.random() < 0.2 else PUBLIC)
        vis = min(vis, PRIVATE)
        root = p.root[parent] if p.root[parent] != NONE else parent
        to = p.author[parent]
        i = self._append(ms, author, vis, reply_to=parent, reply_account=to, root=root)
        mentioned = [a for a in dict.fromkeys((to, p.author[root])) if a != author]
        self._decorate(i, mentioned)

    def _boost(self, ms: int, author: int, original: int) -> None:
        self.boosted.add((author, original))
        i = self._append(ms, author, self.p.visibility[original], reblog_of=original)
        self.p.boosts_of.setdefault(original, []).append(i)

    def _decorate(self, i: int, mentioned: list[int]) -> None:
        if mentioned:
            self.p.mentions[i] = mentioned
        if self.rng.random() < 0.25:
            count = self.rng.choice((1, 1, 1, 2, 3))
            names = self.rng.choices(range(len(TAGS)), cum_weights=self.tag_cum, k=count)
            self.p.tags[i] = list(dict.fromkeys(names))


def _favourites(
    rng: random.Random, p: Posts, followers: list[list[int]], users: int, now_ms: int
) -> list[tuple[int, int, int]]:
    """Likes: about 1.5 per post, more for authors with more followers, from followers (or,
    for public posts, anyone); none on direct posts. Sorted by time, each after its post."""
    eligible = [i for i in range(len(p)) if p.reblog_of[i] == NONE and p.visibility[i] != DIRECT]
    weight = [math.sqrt(len(followers[p.author[i]]) + 1) for i in eligible]
    scale = 1.5 * len(p) / max(1.0, sum(weight))
    likes: list[tuple[int, int, int]] = []
    for i, w in zip(eligible, weight, strict=True):
        want = int(w * scale * rng.expovariate(1.0) + rng.random())
        if want:
            for who in _likers(rng, p, followers, users, i, want):
                likes.append((min(now_ms - 1, p.ms[i] + int(rng.expovariate(1 / 3.6e6))), who, i))
    likes.sort()
    for k in range(1, len(likes)):
        if likes[k][0] <= likes[k - 1][0]:
            likes[k] = (likes[k - 1][0] + 1, likes[k][1], likes[k][2])
    return likes


def _likers(
    rng: random.Random, p: Posts, followers: list[list[int]], users: int, i: int, want: int
) -> set[int]:
    author = p.author[i]
    pool = followers[author]
    chosen = set(rng.sample(pool, min(want, len(pool))))
    if p.visibility[i] <= UNLISTED:
        for _ in range(max(0, want - len(chosen)) + want // 5):
            chosen.add(rng.randrange(users))
    chosen.discard(author)
    return chosen
