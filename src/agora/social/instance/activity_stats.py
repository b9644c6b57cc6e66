"""The admin dashboard's numbers over time, per UTC day for the last `DAYS` days: sign-ups
(local accounts of people made, the assistant's not), active people (local accounts that
posted that day: Agora keeps no sign-in times), posts (local posts and boosts, not deleted)
and the job queue's depth (the most jobs waiting, and dead, in any sample of that day:
jobs/queue.py `sample_depth`).

`weekly` answers Mastodon's `/api/v1/instance/activity`: per week (Monday 00:00 UTC), newest
first, the local posts, the sign-ups and the "logins" (distinct local accounts that signed in
to the web app or had an app token made that week: Agora keeps no other sign-in times, and a
web session's row goes when it ends, so it counts the sessions still kept).

Each series is one grouped query; posts are read by id range (ids start with their
millisecond, `ids.min_id_for_ms`), so the dashboard reads only the window's posts whatever
the server's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Select, String, cast, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from agora.db.models import (
    AccessToken,
    Account,
    Job,
    JobQueueSample,
    Post,
    Report,
    User,
    WebSession,
    utcnow,
)
from agora.ids import min_id_for_ms
from agora.jobs.job_kinds import JobState

DAYS = 30


@dataclass(frozen=True, slots=True)
class Series:
    """One chart: a name, what it counts, and a value per day (oldest first)."""

    key: str
    title: str
    description: str
    days: list[date]
    values: list[int]

    @property
    def total(self) -> int:
        return sum(self.values)


def _day(column: QueryableAttribute[datetime], dialect: str) -> ColumnElement[str]:
    """`column`'s UTC day as 'YYYY-MM-DD' (SQLite stores UTC; PostgreSQL converts)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return cast(func.date(column), String)


def _days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=count - 1 - n) for n in range(count)]


async def dashboard(session: AsyncSession, days: int = DAYS) -> list[Series]:
    """Sign-ups, active people, posts and queue depth per day, oldest day first."""
    now = utcnow()
    span = _days(now.date(), days)
    since = datetime.combine(span[0], datetime.min.time(), tzinfo=now.tzinfo)
    dialect = session.get_bind().dialect.name

    async def per_day(query: Select[str, int]) -> list[int]:
        found = {str(day): int(value or 0) for day, value in await session.execute(query)}
        return [found.get(day.isoformat(), 0) for day in span]

    account_day = _day(Account.created_at, dialect)
    signups = await per_day(
        select(account_day, func.count())
        .join(User, User.account_id == Account.id)  # people, not the assistant
        .where(Account.domain.is_(None), Account.created_at >= since)
        .group_by(account_day)
    )
    post_day = _day(Post.created_at, dialect)
    local_posts = (
        select(post_day.label("day"), Post.account_id)
        .join(Account, Account.id == Post.account_id)
        .where(
            Post.id >= min_id_for_ms(int(since.timestamp() * 1000)),
            Post.created_at >= since,
            Post.deleted_at.is_(None),
            Account.domain.is_(None),
        )
        .subquery()
    )
    posts = await per_day(select(local_posts.c.day, func.count()).group_by(local_posts.c.day))
    active = await per_day(
        select(local_posts.c.day, func.count(distinct(local_posts.c.account_id))).group_by(
            local_posts.c.day
        )
    )
    sample_day = _day(JobQueueSample.taken_at, dialect)
    waiting = await per_day(
        select(sample_day, func.max(JobQueueSample.pending))
        .where(JobQueueSample.taken_at >= since)
        .group_by(sample_day)
    )
    dead = await per_day(
        select(sample_day, func.max(JobQueueSample.dead))
        .where(JobQueueSample.taken_at >= since)
        .group_by(sample_day)
    )
    return [
        Series("signups", "Sign-ups", "local accounts created per day", span, signups),
        Series("active", "Active people", "local accounts that posted, per day", span, active),
        Series("posts", "Posts", "local posts and boosts per day", span, posts),
        Series("queue", "Queue depth", "most jobs waiting in a sample, per day", span, waiting),
        Series("dead", "Dead letters", "most dead jobs in a sample, per day", span, dead),
    ]


WEEKS = 12
KEYS_WEEKLY = ("posts", "signups")  # the dashboard's series `weekly` sums by week


@dataclass(frozen=True, slots=True)
class Week:
    """One week of `weekly`: its Monday (00:00 UTC) and its counts."""

    start: datetime
    statuses: int
    logins: int
    registrations: int


async def weekly(session: AsyncSession, weeks: int = WEEKS) -> list[Week]:
    """Posts, logins and sign-ups per week for the last `weeks` weeks (this one first)."""
    now = utcnow()
    monday = datetime.combine(
        now.date() - timedelta(days=now.weekday()), datetime.min.time(), tzinfo=now.tzinfo
    )
    starts = [monday - timedelta(weeks=n) for n in range(weeks)]
    since = starts[-1]
    span = (now.date() - since.date()).days + 1
    day_counts = {s.key: s for s in await dashboard(session, span) if s.key in KEYS_WEEKLY}

    def week_of(day: date) -> int:
        return (monday.date() - (day - timedelta(days=day.weekday()))).days // 7

    def per_week(key: str) -> list[int]:
        totals = [0] * weeks
        series = day_counts[key]
        for day, value in zip(series.days, series.values, strict=True):
            totals[week_of(day)] += value
        return totals

    dialect = session.get_bind().dialect.name
    seen: set[tuple[int, int]] = set()
    for column, account in (
        (WebSession.created_at, WebSession.account_id),
        (AccessToken.created_at, AccessToken.account_id),
    ):
        day = _day(column, dialect)
        rows = await session.execute(
            select(day, account)
            .join(Account, Account.id == account)
            .where(column >= since, Account.domain.is_(None))
            .distinct()
        )
        seen |= {(week_of(date.fromisoformat(str(d))), int(a)) for d, a in rows if a is not None}
    logins = [0] * weeks
    for week, _ in seen:
        logins[week] += 1
    statuses, signups = per_week("posts"), per_week("signups")
    return [Week(start, statuses[n], logins[n], signups[n]) for n, start in enumerate(starts)]


@dataclass(frozen=True, slots=True)
class Glance:
    """What needs an admin now."""

    open_reports: int
    pending_sign_ups: int
    jobs_waiting: int
    dead_letters: int


async def at_a_glance(session: AsyncSession) -> Glance:
    """Open reports, sign-ups waiting for approval, and the job queue now."""
    reports = await session.scalar(
        select(func.count()).select_from(Report).where(Report.action_taken_at.is_(None))
    )
    pending = await session.scalar(
        select(func.count())
        .select_from(User)
        .join(Account, Account.id == User.account_id)
        .where(User.approved.is_(False), Account.deleted_at.is_(None))
    )
    jobs = dict(
        (state, count)
        for state, count in await session.execute(
            select(Job.state, func.count()).group_by(Job.state)
        )
    )
    return Glance(
        open_reports=reports or 0,
        pending_sign_ups=pending or 0,
        jobs_waiting=jobs.get(JobState.PENDING, 0) + jobs.get(JobState.RUNNING, 0),
        dead_letters=jobs.get(JobState.DEAD, 0),
    )
