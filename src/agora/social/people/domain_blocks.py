"""Blocks of whole servers: by this server's admins (Mastodon's DomainBlock) and by one person
(Mastodon's account domain blocks, `account_domain_blocks.py`).

A server's block covers its domain and every subdomain of it (`covers`, and its SQL twin
`covered_by`; a test checks that they agree). Its severity says what happens to the accounts
of the covered domains, and it is applied to the accounts themselves, so every rule that
already knows a suspended or silenced account applies unchanged, at its own choke point:

- `suspend`: the accounts are suspended (`accounts.suspended_at` = the block's `created_at`,
  for accounts not suspended already): the visibility rule hides their posts, every look-up
  skips them, exactly as for a suspended local account. Federation refuses their deliveries
  and signed fetches (`refuses`) and delivers nothing to them, and a new account of the
  domain is stored suspended (`apply_to_new_account`).
- `silence`: the accounts are silenced the same way (`silenced_at`): public timelines and
  notifications to non-followers leave them out (visibility.listed_to / silenced_for).
- `noop`: nothing but the flags below.
- `reject_media`: remote attachments from the domain are not fetched (`media_allowed`).
- `reject_reports`: reports (Flag) from the domain are dropped (`accepts_reports`).

Lifting a block (or changing its severity) lifts exactly what it set: the accounts whose
`suspended_at` (`silenced_at`) is the block's `created_at`, so an account an admin suspended
on its own stays suspended (Mastodon's rule). Every change is in the moderation log, in the
transaction of the change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, SQLColumnExpression, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account, DomainBlock, utcnow
from agora.social.people import moderation
from agora.social.rules.errors import Invalid, NotFound, Unauthorized
from agora.social.rules.paging import Page, Slice, apply_page, keyed_slice

SEVERITIES = ("noop", "silence", "suspend")
MAX_COMMENT = 5000
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
DOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*(:\d{{1,5}})?$")


def normalise_domain(text: str) -> str:
    """The domain a person or an admin typed, as stored (lower case, IDNA, with its port if
    any; a URL's host is taken from it); Invalid when it is not a domain."""
    value = text.strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value).split("/", 1)[0]
    value = value.removeprefix("*.").strip(".")
    try:
        value = value.encode("idna").decode("ascii") if not value.isascii() else value
    except UnicodeError:
        raise Invalid("Validation failed: domain is not a valid domain name") from None
    if not value or len(value) > 255 or not DOMAIN_RE.match(value):
        raise Invalid("Validation failed: domain is not a valid domain name")
    return value


def other_domain(text: str) -> str:
    """`normalise_domain`, refusing this server's own domain (Invalid)."""
    domain = normalise_domain(text)
    if domain == get_settings().domain.lower():
        raise Invalid("Validation failed: this server cannot block itself")
    return domain


def covers(blocked: str, domain: str | None) -> bool:
    """Whether a block of `blocked` covers an account on `domain` (itself or a subdomain;
    None is this server, never covered)."""
    return domain is not None and (domain == blocked or domain.endswith("." + blocked))


def covered_by(domain: SQLColumnExpression[str | None], blocked: str) -> ColumnElement[bool]:
    """SQL twin of `covers` for a domain column."""
    return or_(domain == blocked, domain.endswith("." + blocked, autoescape=True))


def _parents(domain: str) -> list[str]:
    """`a.b.c` -> [`a.b.c`, `b.c`, `c`]: the domains whose block would cover `domain`."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


async def blocks_covering(session: AsyncSession, domain: str | None) -> list[DomainBlock]:
    """The server's blocks that cover `domain` (none for this server)."""
    if domain is None:
        return []
    rows = await session.scalars(
        select(DomainBlock).where(DomainBlock.domain.in_(_parents(domain.lower())))
    )
    return [b for b in rows if covers(b.domain, domain.lower())]


async def refuses(session: AsyncSession, domain: str | None) -> bool:
    """Whether this server has suspended `domain`: its deliveries and signed fetches are
    refused and nothing is sent to it."""
    return any(b.severity == "suspend" for b in await blocks_covering(session, domain))


async def media_allowed(session: AsyncSession, domain: str | None) -> bool:
    """Whether remote media of `domain` may be fetched and stored (not suspended, not
    `reject_media`). The remote-media fetcher asks this before every download."""
    return not any(
        b.severity == "suspend" or b.reject_media for b in await blocks_covering(session, domain)
    )


async def accepts_reports(session: AsyncSession, domain: str | None) -> bool:
    """Whether reports (Flag) from `domain` go to the admins (not suspended, not
    `reject_reports`)."""
    return not any(
        b.severity == "suspend" or b.reject_reports for b in await blocks_covering(session, domain)
    )


async def apply_to_new_account(session: AsyncSession, account: Account) -> None:
    """Give a remote account just stored the state its domain's blocks set (suspended or
    silenced since the block). Does not commit."""
    for block in await blocks_covering(session, account.domain):
        moderation.limit_new_account(account, block.severity, block.created_at)


# --- the admins' list ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainBlockInput:
    """What an admin sends (None: not given, keep the stored value on an update)."""

    domain: str | None = None
    severity: str | None = None
    reject_media: bool | None = None
    reject_reports: bool | None = None
    private_comment: str | None = None
    public_comment: str | None = None
    obfuscate: bool | None = None


def _check(given: DomainBlockInput) -> None:
    if given.severity is not None and given.severity not in SEVERITIES:
        raise Invalid("Validation failed: severity must be one of noop, silence, suspend")
    for text in (given.private_comment, given.public_comment):
        if text is not None and len(text) > MAX_COMMENT:
            raise Invalid(f"Validation failed: comment is too long (maximum is {MAX_COMMENT})")


def _set_fields(block: DomainBlock, given: DomainBlockInput) -> None:
    for name in (
        "severity",
        "reject_media",
        "reject_reports",
        "private_comment",
        "public_comment",
        "obfuscate",
    ):
        value = getattr(given, name)
        if value is not None:
            setattr(block, name, value)


async def _apply(session: AsyncSession, block: DomainBlock) -> None:
    """Suspend or silence the covered accounts (see the module docstring)."""
    covered = covered_by(Account.domain, block.domain)
    await moderation.limit_accounts(session, covered, block.severity, block.created_at)


async def _lift(session: AsyncSession, block: DomainBlock) -> None:
    """Undo `_apply`: only what this block set."""
    await moderation.release_accounts(
        session, covered_by(Account.domain, block.domain), block.created_at
    )


def _summary(block: DomainBlock) -> str:
    flags = [f for f in ("reject_media", "reject_reports", "obfuscate") if getattr(block, f)]
    return " ".join([block.severity, *flags, block.private_comment]).strip()


async def create_block(
    session: AsyncSession, given: DomainBlockInput, *, by: Account | None
) -> DomainBlock:
    """Block a server (`by` is None from the CLI). Commits. Invalid when the domain is not
    one, or is already blocked (itself or by a block of a parent domain)."""
    _check(given)
    domain = other_domain(given.domain or "")
    if await blocks_covering(session, domain):
        raise Invalid("Validation failed: Domain is already blocked")
    now = utcnow()
    block = DomainBlock(
        domain=domain,
        severity="silence",
        reject_media=False,
        reject_reports=False,
        private_comment="",
        public_comment="",
        obfuscate=False,
        created_at=now,
        updated_at=now,
    )
    _set_fields(block, given)
    session.add(block)
    await session.flush()
    await _apply(session, block)
    moderation.log_domain_action(session, by, domain, "block_domain", _summary(block))
    await session.commit()
    return block


async def get_block(session: AsyncSession, block_id: int) -> DomainBlock:
    """One of the server's domain blocks; NotFound otherwise."""
    block = await session.get(DomainBlock, block_id)
    if block is None:
        raise NotFound()
    return block


async def find_block(session: AsyncSession, domain: str) -> DomainBlock:
    """The block of exactly this domain (CLI); NotFound otherwise."""
    block = await session.scalar(
        select(DomainBlock).where(DomainBlock.domain == normalise_domain(domain))
    )
    if block is None:
        raise NotFound("This domain is not blocked")
    return block


async def update_block(
    session: AsyncSession, block_id: int, given: DomainBlockInput, *, by: Account | None
) -> DomainBlock:
    """Change a block (not its domain); its effect on the accounts follows. Commits."""
    _check(given)
    block = await get_block(session, block_id)
    await _lift(session, block)
    _set_fields(block, given)
    block.updated_at = utcnow()
    await session.flush()
    await _apply(session, block)
    moderation.log_domain_action(session, by, block.domain, "update_domain_block", _summary(block))
    await session.commit()
    return block


async def remove_block(session: AsyncSession, block_id: int, *, by: Account | None) -> None:
    """Lift a block: what it set on the accounts is undone. Commits."""
    block = await get_block(session, block_id)
    await _lift(session, block)
    await session.execute(delete(DomainBlock).where(DomainBlock.id == block.id))
    moderation.log_domain_action(session, by, block.domain, "unblock_domain")
    await session.commit()


async def list_blocks(session: AsyncSession, page: Page) -> Slice[DomainBlock]:
    """A page of the server's domain blocks, newest first."""
    rows = (await session.scalars(apply_page(select(DomainBlock), DomainBlock.id, page))).all()
    return keyed_slice(rows, page, lambda block: block.id)


async def all_blocks(session: AsyncSession) -> list[DomainBlock]:
    """Every domain block, by domain (the public list, the CLI)."""
    return list(await session.scalars(select(DomainBlock).order_by(DomainBlock.domain)))


async def published_blocks(
    session: AsyncSession, shown: str, *, signed_in: bool
) -> list[DomainBlock]:
    """The blocks the public list shows (`/api/v1/instance/domain_blocks`, /about), by
    domain, as the admins' `domain_blocks_shown` allows: `all` to anyone, `users` to
    signed-in people (Unauthorized otherwise), `disabled` to nobody (NotFound). `noop`
    blocks, which limit nothing, are left out (as Mastodon does)."""
    if shown == "disabled":
        raise NotFound()
    if shown == "users" and not signed_in:
        raise Unauthorized("This method requires an authenticated user")
    query = select(DomainBlock).where(DomainBlock.severity != "noop")
    return list(await session.scalars(query.order_by(DomainBlock.domain)))


def digest(domain: str) -> str:
    """The SHA-256 of a domain, published beside an obfuscated name (Mastodon's `digest`)."""
    return hashlib.sha256(domain.encode()).hexdigest()


def shown_domain(block: DomainBlock) -> str:
    """The domain as the public list shows it: obfuscated when the admins asked for it
    (Mastodon's rule: the middle half of the characters, dots kept, become `*`)."""
    if not block.obfuscate:
        return block.domain
    length = len(block.domain)
    visible = length // 4
    return "".join(
        "*" if visible < i < length - visible and c != "." else c
        for i, c in enumerate(block.domain)
    )
