"""A local person moving their account to another one (Mastodon's account migration).

The order is Mastodon's: first the person makes the new account name the old one as an alias
(its `alsoKnownAs`: on another Agora, `/settings/migration` or
`POST /api/v1/agora/account/aliases`); then, from the old account, `move_own_account` with
the password. It holds these invariants:

- the target must list this account's actor id among its aliases, as last fetched (the door
  fetches a remote target right before; a local target's aliases are its owner's setting):
  nobody can be moved to an account that did not ask for it;
- the old account records the new one (`moved_to_account_id`; published as `movedTo` and
  Mastodon's `moved`), its local followers follow the new account and stop following the old
  one, with a `move` notification (`remote_accounts.move_followers`, the same function a
  Move received from another server runs), and a `federate_move` job, written in the same
  transaction, sends Move to its remote followers' servers, which move them.

Moving again later (to a third account) is allowed once 30 days have passed since the last
move (`remote_accounts.MOVE_COOLDOWN`, as on Mastodon); moving to oneself, to a suspended
account or to an account that itself moved is not.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import check_password
from agora.db.models import Account, User
from agora.social.people.remote_accounts import move_followers
from agora.social.reading.remote_audience import schedule_move
from agora.social.rules.errors import Invalid, NotFound

WRONG_PASSWORD = "Current password is wrong"
NOT_AN_ALIAS = (
    "Validation failed: the new account must name this one as an alias (alsoKnownAs) first"
)


async def move_own_account(
    session: AsyncSession, account: Account, password: str, target_id: int, account_uri: str
) -> int:
    """Move `account` (whose actor id is `account_uri`) to the account `target_id` (see the
    module docstring); how many local followers moved. Invalid for a wrong password or a
    target that does not qualify, NotFound for an unknown one (nothing changes). Commits."""
    user = await session.get(User, account.id)
    if user is None or not await check_password(session, user.password_hash, password or ""):
        raise Invalid(WRONG_PASSWORD)
    old = await session.get(Account, account.id)
    target = await session.get(Account, target_id)
    if old is None or target is None or target.suspended_at is not None:
        raise NotFound("Record not found")
    if target.id == old.id:
        raise Invalid("Validation failed: an account cannot move to itself")
    if target.moved_to_account_id is not None:
        raise Invalid("Validation failed: the new account has itself moved")
    if account_uri not in (target.also_known_as or []):
        raise Invalid(NOT_AN_ALIAS)
    moved = await move_followers(session, old, target)
    await schedule_move(session, old, target)
    await session.commit()
    return moved
