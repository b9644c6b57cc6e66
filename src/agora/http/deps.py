"""Dependencies shared by the API routes: database session, caller, paging.

The caller of a request with a bearer token is resolved from `auth/token_cache.py` when the
token was accepted in the last seconds (revocation and suspension make every process forget it
at once), else by `oauth.authenticate`; `caller_id` / `optional_caller_id` give the account's
id alone, with no query on a cached token, `caller` / `optional_caller` its row (one look-up
by primary key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.email_confirmation import Awaiting, token_holder
from agora.auth.oauth import Credentials, authenticate
from agora.auth.scopes import satisfies
from agora.auth.token_cache import KnownToken, token_cache
from agora.db.models import Account
from agora.http.error_responses import ApiError
from agora.http.params import reads_query
from agora.http.replica_routing import note_write, replica_from, replica_read
from agora.ids import parse_id
from agora.social.people.moderation import is_admin
from agora.social.rules.paging import Page

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; writes take SQLite's write lock at BEGIN. With a replica,
    a lag-tolerant read (`http/replica_routing.py`) gets a replica session, and a write
    marks its requester so that their next reads stay on the primary until the replica has
    replayed the primary's WAL up to where it was after the write. A lag-tolerant read that
    the primary answers gets a session without a transaction (`Database.session`'s
    `read_only`): such a route never writes."""
    db = request.app.state.db
    write = request.method not in READ_METHODS
    if db.has_replica and write:
        await note_write(request)
        try:
            async with db.session(write=True) as session:
                yield session
        finally:  # where the primary's WAL is now: the write's readers wait for it
            await note_write(request, await db.wal_position())
        return
    lag_tolerant = not write and replica_read(request)
    after = await replica_from(request) if db.has_replica and lag_tolerant else None
    if after is not None:
        replica = await db.replica_session(replayed=after)
        if replica is not None:
            async with replica as session:
                yield session
            return
    async with db.session(write=write, read_only=lag_tolerant) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query_params.get("access_token")


async def _credentials(request: Request, session: AsyncSession) -> Credentials | None:
    if "credentials" in request.state._state:
        known: Credentials | None = request.state.credentials
        return known
    token = _bearer(request)
    creds = await authenticate(session, token) if token else None
    request.state.credentials = creds
    return creds


async def _known_token(request: Request, session: AsyncSession) -> KnownToken | None:
    """The request's token as accepted (from the token cache, else authenticated now and
    remembered); None without a token. Unauthorized / Forbidden as `authenticate`."""
    if "known_token" in request.state._state:
        known: KnownToken | None = request.state.known_token
        return known
    token = _bearer(request)
    known = None
    if token:
        cache = token_cache()
        known = cache.get(token)
        if known is None:
            generation = cache.generation
            creds = await _credentials(request, session)
            assert creds is not None
            account_id = creds.account.id if creds.account is not None else None
            known = cache.put(
                token, generation, creds.token_id, account_id, creds.scopes, creds.app.id
            )
    request.state.known_token = known
    return known


def calling_app_id(request: Request) -> int | None:
    """The id of the app whose token made this request (after a caller dependency ran)."""
    known: KnownToken | None = getattr(request.state, "known_token", None)
    return known.app_id if known is not None else None


async def _account(request: Request, session: AsyncSession, account_id: int) -> Account:
    """The caller's account row (the one authentication loaded, else by primary key)."""
    creds: Credentials | None = getattr(request.state, "credentials", None)
    if creds is not None and creds.account is not None and creds.account.id == account_id:
        return creds.account
    account = await session.get(Account, account_id)
    if account is None:
        raise ApiError(401, "The access token is invalid")
    return account


def _check_scope(granted: Collection[str], scope: str | None) -> None:
    if scope and not satisfies(granted, scope):
        raise ApiError(403, "This action is outside the authorized scopes")


CHECKED_SCOPES = "agora_checked_scopes"


def _note_scope(request: Request, scope: str | None) -> None:
    if scope:
        request.state._state[CHECKED_SCOPES] = (*checked_scopes(request), scope)


def checked_scopes(request: Request) -> tuple[str, ...]:
    """The token scopes this request's caller dependencies required (and found granted):
    what another request must be granted to be answered the same (api/page_cache.py)."""
    found: tuple[str, ...] = request.state._state.get(CHECKED_SCOPES, ())
    return found


async def _caller_id(request: Request, session: AsyncSession, scope: str | None) -> int:
    known = await _known_token(request, session)
    if known is None:
        raise ApiError(401, "The access token is invalid")
    _check_scope(known.scopes, scope)  # before the user, as Mastodon: an app token without it 403
    if known.account_id is None:
        raise ApiError(422, "This method requires an authenticated user")
    _note_scope(request, scope)
    return known.account_id


async def _optional_caller_id(
    request: Request, session: AsyncSession, scope: str | None
) -> int | None:
    known = await _known_token(request, session)
    if known is None or known.account_id is None:
        return None
    _check_scope(known.scopes, scope)
    _note_scope(request, scope)
    return known.account_id


def caller(scope: str | None = None) -> Any:
    """Dependency: the signed-in account, with `scope` granted (401 / 403 otherwise)."""

    async def dependency(request: Request, session: SessionDep) -> Account:
        return await _account(request, session, await _caller_id(request, session, scope))

    return Depends(dependency)


def caller_id(scope: str | None = None) -> Any:
    """Dependency: `caller`'s account id alone (no query when the token is cached)."""

    async def dependency(request: Request, session: SessionDep) -> int:
        return await _caller_id(request, session, scope)

    return Depends(dependency)


def optional_caller(scope: str | None = None) -> Any:
    """Dependency: the signed-in account if a token was sent, else None."""

    async def dependency(request: Request, session: SessionDep) -> Account | None:
        account_id = await _optional_caller_id(request, session, scope)
        return None if account_id is None else await _account(request, session, account_id)

    return Depends(dependency)


def optional_caller_id(scope: str | None = None) -> Any:
    """Dependency: `optional_caller`'s account id alone (no query when the token is cached)."""

    async def dependency(request: Request, session: SessionDep) -> int | None:
        return await _optional_caller_id(request, session, scope)

    return Depends(dependency)


def admin_caller(scope: str) -> Any:
    """Dependency: the signed-in account, with `scope` granted and the admin role (403
    otherwise, as Mastodon answers a moderator without the permission)."""

    async def dependency(request: Request, session: SessionDep) -> Account:
        creds = await _credentials(request, session)
        if creds is None:
            raise ApiError(401, "The access token is invalid")
        _check_scope(creds.scopes, scope)
        if creds.account is None:
            raise ApiError(422, "This method requires an authenticated user")
        if not await is_admin(session, creds.account.id):
            raise ApiError(403, "This action is not allowed")
        return creds.account

    return Depends(dependency)


def app_caller(scope: str | None = None) -> Any:
    """Dependency: any valid token (an app token is enough), with `scope` granted."""

    async def dependency(request: Request, session: SessionDep) -> Credentials:
        creds = await _credentials(request, session)
        if creds is None:
            raise ApiError(401, "The access token is invalid")
        _check_scope(creds.scopes, scope)
        return creds

    return Depends(dependency)


def confirming_caller(scope: str) -> Any:
    """Dependency: the account of the bearer token, with `scope`, even while its e-mail
    address awaits confirmation (for the e-mail endpoints only; every other route refuses
    such an account, auth/standing.py)."""

    async def dependency(request: Request, session: SessionDep) -> Awaiting:
        holder = await token_holder(session, _bearer(request))
        if not satisfies(holder.scopes, scope):
            raise ApiError(403, "This action is outside the authorized scopes")
        return holder

    return Depends(dependency)


def id_param(value: str) -> int:
    """Parse a Mastodon id (a numeric string); 404 for anything else, as for a missing row."""
    parsed = parse_id(value)
    if parsed is None:
        raise ApiError(404, "Record not found")
    return parsed


def _cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise ApiError(422, "Validation failed: cursor ids must be numeric")
    return parsed


def paging(default: int = 20, maximum: int = 40) -> Any:
    """Dependency: max_id / since_id / min_id / limit (out-of-range limits are clamped), read
    from the query string by hand (`params.reads_query`: no per-parameter validation)."""

    @reads_query("max_id", "since_id", "min_id", "limit")
    async def dependency(request: Request) -> Page:  # async: FastAPI runs a `def` in a thread
        query = request.query_params
        count = default
        limit = query.get("limit")
        if limit:  # neither absent nor empty
            try:
                count = int(limit)
            except ValueError:
                raise ApiError(422, "Validation failed: limit must be a number") from None
        count = max(1, min(maximum, count))
        return Page(
            limit=count,
            max_id=_cursor(query.get("max_id")),
            since_id=_cursor(query.get("since_id")),
            min_id=_cursor(query.get("min_id")),
        )

    return Depends(dependency)
