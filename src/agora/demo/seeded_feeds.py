"""Home feeds of the demo data set, computed the way fan-out on write would have built them.

The rule is that of `agora.social.reading.fan_out` (distribute_post): a post goes to its
author and to the author's followers as the home rule
(`agora.social.reading.home_rule.in_home`) says, unless the author has more than
`threshold` followers (then it is merged at read time instead; direct posts are still
fanned out); a boost is skipped by a feed that already received the
original or an earlier boost of it. Each feed keeps its newest `cap` entries.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from agora.demo.plan import DIRECT, NONE, Plan
from agora.social.reading.home_rule import in_home


class FeedBuilder:
    """Computes feeds newest first, stopping at the cap (cost ~ cap per account)."""

    def __init__(self, plan: Plan, cap: int, threshold: int) -> None:
        self.plan = plan
        self.p = plan.posts
        self.cap = cap
        self.big = {a for a, fs in enumerate(plan.followers) if len(fs) > threshold}
        self.direct_by_author: dict[int, list[int]] = {}
        for a in self.big:
            self.direct_by_author[a] = [
                i for i in plan.by_author[a] if self.p.visibility[i] == DIRECT
            ]

    def feeds(self) -> Iterator[tuple[int, list[int]]]:
        """(account, post numbers oldest first) for every account with a non-empty feed."""
        for owner in range(self.plan.users):
            feed = self.feed(owner)
            if feed:
                feed.reverse()
                yield owner, feed

    def feed(self, owner: int) -> list[int]:
        """The newest `cap` posts in `owner`'s home feed, newest first."""
        sources = [self.plan.by_author[owner]]
        for a in self.plan.following[owner]:
            sources.append(self.direct_by_author[a] if a in self.big else self.plan.by_author[a])
        out: list[int] = []
        for i in heapq.merge(*(reversed(s) for s in sources if s), reverse=True):
            if self._accepts(owner, i):
                out.append(i)
                if len(out) == self.cap:
                    break
        return out

    def _reaches(self, owner: int, i: int) -> bool:
        """Would fan-out of post i consider `owner` a recipient (before boost dedupe)?"""
        p = self.p
        author, other, direct = p.author[i], p.reply_account[i], p.visibility[i] == DIRECT
        if author != owner and author in self.big and not direct:
            return False  # merged at read time, not fanned out
        following = self.plan.following[owner]
        return in_home(
            is_author=author == owner,
            follows_author=author in following,
            is_boost=p.reblog_of[i] != NONE,
            direct=direct,
            mentioned=owner in p.mentions.get(i, ()),
            is_reply=other != NONE,
            replies_to_viewer=other == owner,
            self_reply=other == author,
            follows_replied_to=other in following,
        )

    def _accepts(self, owner: int, i: int) -> bool:
        if not self._reaches(owner, i):
            return False
        original = self.p.reblog_of[i]
        if original == NONE:
            return True
        if self._reaches(owner, original):
            return False
        for earlier in self.p.boosts_of.get(original, ()):
            if earlier >= i:
                break
            if self._reaches(owner, earlier):
                return False
        return True
