"""Polls sent to other servers: a local person's vote in a remote poll (one `Create(Note)`
per chosen option, to the poll's author only), and a local poll's new counts
(`Update(Question)`, to the post's audience and to the poll's remote voters). Both jobs are
written by remote_polls.schedule_after_vote in the vote's transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Poll, PollOption, PollVoter, Post
from agora.federation import activities, question_objects
from agora.federation.actors import actor_uri
from agora.federation.object_extensions import complete_note
from agora.federation.outbox import deliver, mentioned_accounts, post_inboxes
from agora.jobs.job_kinds import FederateVoteJob, PollCountsJob
from agora.social.posts import remote_polls


async def federate_vote(session: AsyncSession, payload: FederateVoteJob) -> None:
    """Send a local account's vote in a remote poll to the poll's author."""
    poll = await session.get(Poll, payload["poll_id"])
    post = await session.get(Post, poll.post_id) if poll is not None else None
    voter = await session.get(Account, payload["account_id"])
    if poll is None or post is None or post.uri is None or voter is None or voter.domain:
        return
    author = await session.get(Account, post.account_id)
    if author is None or author.domain is None or not author.inbox_url:
        return
    rows = await session.execute(
        select(PollOption.position, PollOption.title).where(PollOption.poll_id == poll.id)
    )
    titles: dict[int, str] = {position: title for position, title in rows}
    for choice in payload["choices"]:
        if choice in titles:
            vote = question_objects.vote_activity(
                actor_uri(voter), post.uri, actor_uri(author), poll.id, choice, titles[choice]
            )
            deliver(session, voter, {author.inbox_url}, vote)


async def federate_poll_counts(session: AsyncSession, payload: PollCountsJob) -> None:
    """Send a local poll's current counts as Update(Question) to its post's audience and to
    its remote voters."""
    poll = await session.get(Poll, payload["poll_id"])
    post = await session.get(Post, poll.post_id) if poll is not None else None
    if poll is None or post is None or post.deleted_at is not None or post.uri is not None:
        return
    await remote_polls.counts_sent(session, poll.id)
    author = await session.get(Account, post.account_id)
    if author is None or author.domain is not None or author.suspended_at is not None:
        return
    mentioned = await mentioned_accounts(session, post.id)
    note = activities.note_json(post, author, mentioned)
    question = await complete_note(session, post, author, note)
    voters = await session.scalars(
        select(Account)
        .join(PollVoter, PollVoter.account_id == Account.id)
        .where(PollVoter.poll_id == poll.id, Account.domain.is_not(None))
    )
    inboxes = await post_inboxes(session, post, mentioned)
    inboxes |= {v.shared_inbox_url or v.inbox_url or "" for v in voters} - {""}
    deliver(session, author, inboxes, question_objects.update_activity(question))
