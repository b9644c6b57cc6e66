"""Actors: the ActivityPub documents of local accounts, and remote accounts stored from theirs.

Local ids: `{base}/users/NAME` (the actor), `…/inbox`, `…/outbox`, `…/followers`,
`…/following`, `{base}/inbox` (the shared inbox), key id `…/users/NAME#main-key`.

Remote accounts live in `accounts` with `domain` set and `username_lower` = "name@domain"
(lower-cased), so no local look-up finds them by a bare name. A remote actor is stored only
from a document fetched from its own id's host (`fetch_actor` checks the id and the key owner),
never from what a third party claims about it. Each store also records the author's
data-reuse choices and `#nobot` as their document and profile page state them
(federation/remote_consent.py), so every fetch or update of the actor refreshes them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import nh3
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.data import consent
from agora.db.engine import Database
from agora.db.models import Account, utcnow
from agora.db.upsert import insert_ignore_one
from agora.federation import domain_health
from agora.federation.client import FederationError, Signer, fetch_json
from agora.federation.keys import instance_signer, key_pair
from agora.federation.remote_consent import RemoteConsent, read_actor, read_profile_page
from agora.ids import new_id
from agora.social.media import custom_emojis
from agora.social.media.profile_images import image_url
from agora.social.people import domain_blocks
from agora.social.posts.post_uris import is_local_uri, local_actor_uri
from agora.social.posts.text import extract_remote_mentions, sanitize_html
from agora.social.rules.errors import Invalid

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Agora's JSON-LD namespace for the consent extension (docs/FEDERATION.md).
AGORA_NS = "https://example.invalid/agora/ns#"
CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "Emoji": "toot:Emoji",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
        "Hashtag": "as:Hashtag",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "agora": AGORA_NS,
        "dataReuse": {"@id": "agora:dataReuse", "@type": "@json"},
        # polls, images and quotes (federation/object_extensions.py), as Mastodon 4.5 names them
        "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
        "votersCount": "toot:votersCount",
        "blurhash": "toot:blurhash",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
        "quote": {"@id": "https://w3id.org/fep/044f#quote", "@type": "@id"},
        "quoteUri": "http://fedibird.com/ns#quoteUri",
        "_misskey_quote": "https://misskey-hub.net/ns#_misskey_quote",
        "QuoteRequest": "https://w3id.org/fep/044f#QuoteRequest",
        "gts": "https://gotosocial.org/ns#",
        "interactionPolicy": {"@id": "gts:interactionPolicy", "@type": "@id"},
        "canQuote": {"@id": "gts:canQuote", "@type": "@id"},
        "automaticApproval": {"@id": "gts:automaticApproval", "@type": "@id"},
    },
]
# How long a stored remote actor is trusted before the next use fetches it again (as Mastodon
# refreshes an account older than a day): how a changed mind about data reuse travels.
ACTOR_REFRESH = timedelta(days=1)
ACTOR_TYPES = {"Person", "Service", "Application", "Group", "Organization"}
MAX_RESOLVED_MENTIONS = 5  # remote handles a post may make this server look up


def base_url() -> str:
    """This server's base URL, without a trailing slash."""
    return get_settings().base_url.rstrip("/")


def actor_uri(account: Account) -> str:
    """An account's ActivityPub id (its stored `uri` when remote)."""
    return account.uri or local_actor_uri(account.username)


def key_id(account: Account) -> str:
    """The id of a local account's public key."""
    return f"{actor_uri(account)}#main-key"


def shared_inbox() -> str:
    """This server's shared inbox."""
    return f"{base_url()}/inbox"


async def signer_for(db: Database, account: Account) -> Signer:
    """The key a local account signs its requests with (made now if it has none)."""
    pair = await key_pair(db, account.id)
    return Signer(key_id(account), pair.private_pem)


async def moved_to_uri(session: AsyncSession, account: Account) -> str | None:
    """The actor id of the account `account` moved to, if it moved."""
    if account.moved_to_account_id is None:
        return None
    target = await session.get(Account, account.moved_to_account_id)
    return actor_uri(target) if target is not None else None


def actor_json(account: Account, public_pem: str, moved_to: str | None = None) -> dict[str, Any]:
    """The actor document of a local account: a Person, or a Service for the assistant, with
    its data-reuse intents (`dataReuse`, the category names of /api/v1/agora/data_reuse;
    categories left unset are left out), its `alsoKnownAs` and, once it moved, `movedTo`."""
    uri = actor_uri(account)
    service = account.bot and account.username_lower == get_settings().assistant_username.lower()
    return {
        "@context": CONTEXT,
        "id": uri,
        "type": "Service" if service else "Person",
        "preferredUsername": account.username,
        "name": account.display_name,
        "summary": account.note_html,
        "url": f"{base_url()}/@{account.username}",
        "published": account.created_at.isoformat().replace("+00:00", "Z"),
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "following": f"{uri}/following",
        "featured": f"{uri}/collections/featured",
        "featuredTags": f"{uri}/collections/tags",
        "endpoints": {"sharedInbox": shared_inbox()},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": public_pem},
        "manuallyApprovesFollowers": account.locked,
        "discoverable": account.discoverable,
        "indexable": account.discoverable,
        "icon": {"type": "Image", "url": image_url(account, "avatar")},
        "image": {"type": "Image", "url": image_url(account, "header")},
        "attachment": [
            {"type": "PropertyValue", "name": f["name"], "value": f["value"]}
            for f in account.fields
        ],
        "tag": custom_emojis.emoji_tags(account.emojis),
        "dataReuse": consent.public_intents(account),
        **({"alsoKnownAs": account.also_known_as} if account.also_known_as else {}),
        **({"movedTo": moved_to} if moved_to else {}),
    }


# --- remote actors -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteActor:
    """What Agora keeps of a remote actor document."""

    uri: str
    username: str
    domain: str
    display_name: str
    note_html: str
    url: str | None
    inbox: str
    shared_inbox: str | None
    followers: str | None
    public_key_pem: str
    locked: bool
    bot: bool
    discoverable: bool
    avatar: str | None = None  # `icon`
    header: str | None = None  # `image`
    fields: tuple[tuple[str, str], ...] = ()  # `PropertyValue` attachments, as plain text
    also_known_as: tuple[str, ...] = ()  # its other identities (http(s) actor ids), at most 10
    consent: RemoteConsent = field(default_factory=RemoteConsent)
    tags: tuple[Any, ...] = ()  # its `tag` list (its custom emoji: custom_emojis.py)


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _image(value: Any) -> str | None:
    """The http(s) URL of an `icon` / `image` (an Image object, a link or a list of them)."""
    value = value[0] if isinstance(value, list) and value else value
    url = value.get("url") if isinstance(value, dict) else value
    url = url[0] if isinstance(url, list) and url else url
    url = id_of_link(url)
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def id_of_link(value: Any) -> str | None:
    """A link's URL: the string, or a Link object's `href`."""
    if isinstance(value, dict):
        value = value.get("href")
    return value if isinstance(value, str) else None


def _fields(value: Any) -> tuple[tuple[str, str], ...]:
    """Profile fields (`PropertyValue` attachments), as plain text, at most four."""
    items = value if isinstance(value, list) else []
    found = [
        (_plain_text(i.get("name"), 255), _plain_text(i.get("value"), 255))
        for i in items
        if isinstance(i, dict) and i.get("type") == "PropertyValue"
    ]
    return tuple(found[:4])


def _aliases(value: Any) -> tuple[str, ...]:
    """`alsoKnownAs`: the http(s) ids it names (a string or a list), at most 10."""
    items = value if isinstance(value, list) else [value]
    found = [i for i in items[:50] if isinstance(i, str) and len(i) <= 2048]
    return tuple(i for i in found if urlsplit(i).scheme in ("http", "https"))[:10]


def _plain_text(value: Any, limit: int) -> str:
    text = nh3.clean(value, tags=set()) if isinstance(value, str) else ""
    return html.unescape(text).strip()[:limit]


def parse_actor(doc: Any, fetched_from: str) -> RemoteActor:
    """Read a fetched actor document; FederationError unless it is an actor whose id is on
    the host it was fetched from and whose key belongs to it."""
    if not isinstance(doc, dict) or doc.get("type") not in ACTOR_TYPES:
        raise FederationError("Not an actor document")
    uri, inbox, name = doc.get("id"), doc.get("inbox"), doc.get("preferredUsername")
    if not (isinstance(uri, str) and isinstance(inbox, str) and isinstance(name, str)):
        raise FederationError("The actor document lacks id, inbox or preferredUsername")
    if not (uri and inbox and name):
        raise FederationError("The actor document lacks id, inbox or preferredUsername")
    host = urlsplit(uri).netloc.lower()
    if host != urlsplit(fetched_from).netloc.lower() or urlsplit(inbox).netloc.lower() != host:
        raise FederationError("The actor's id or inbox is on another host than its document")
    key = doc.get("publicKey")
    key = key[0] if isinstance(key, list) and key else key
    if not isinstance(key, dict) or key.get("owner") != uri or not key.get("publicKeyPem"):
        raise FederationError("The actor's public key is missing or belongs to someone else")
    endpoints = doc.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
    url = doc.get("url")
    return RemoteActor(
        uri=uri,
        username=_text(name, 300),
        domain=host,
        display_name=_text(doc.get("name"), 100),
        note_html=sanitize_html(_text(doc.get("summary"), 10_000)),
        url=url if isinstance(url, str) else None,
        inbox=inbox,
        shared_inbox=shared if isinstance(shared, str) else None,
        followers=doc.get("followers") if isinstance(doc.get("followers"), str) else None,
        public_key_pem=key["publicKeyPem"],
        locked=bool(doc.get("manuallyApprovesFollowers")),
        bot=doc.get("type") in ("Service", "Application"),
        discoverable=bool(doc.get("discoverable")),
        avatar=_image(doc.get("icon")),
        header=_image(doc.get("image")),
        fields=_fields(doc.get("attachment")),
        also_known_as=_aliases(doc.get("alsoKnownAs")),
        consent=read_actor(doc),
        tags=tuple(doc["tag"][:100]) if isinstance(doc.get("tag"), list) else (),
    )


async def store_actor(session: AsyncSession, actor: RemoteActor) -> Account:
    """Insert or refresh the remote account of `actor` (keyed by its uri). Does not commit."""
    values = {
        "username": actor.username,
        "display_name": actor.display_name,
        "note": "",
        "note_html": actor.note_html,
        "url": actor.url,
        "inbox_url": actor.inbox,
        "shared_inbox_url": actor.shared_inbox,
        "followers_url": actor.followers,
        "public_key_pem": actor.public_key_pem,
        "locked": actor.locked,
        "bot": actor.bot,
        "discoverable": actor.discoverable,
        "avatar_remote_url": actor.avatar,
        "header_remote_url": actor.header,
        "fields": [{"name": name, "value": value} for name, value in actor.fields],
        "also_known_as": list(actor.also_known_as) or None,
        "data_reuse": consent.remote_data_reuse(actor.consent.choices),
        "no_bot": actor.consent.no_bot,
        "fetched_at": utcnow(),
    }
    inserted = await insert_ignore_one(
        session,
        Account,
        id=new_id(),
        uri=actor.uri,
        domain=actor.domain,
        username_lower=f"{actor.username}@{actor.domain}".lower(),
        created_at=utcnow(),
        followers_count=0,
        following_count=0,
        statuses_count=0,
        **values,
    )
    if not inserted:
        await session.execute(update(Account).where(Account.uri == actor.uri).values(**values))
    account = await session.scalar(
        select(Account).where(Account.uri == actor.uri).execution_options(populate_existing=True)
    )
    if account is None:  # the name@domain was taken by another uri (the actor moved)
        raise FederationError("Another actor already holds this name on that domain")
    if inserted:  # suspended or silenced from the start when its server is
        await domain_blocks.apply_to_new_account(session, account)
    await custom_emojis.remember_remote(session, actor.domain, list(actor.tags))
    emojis = await custom_emojis.account_emojis(session, account)
    if emojis != account.emojis:
        account.emojis = emojis
    return account


async def fetch_signed(db: Database, url: str, signer: Signer | None = None) -> Any:
    """GET a remote ActivityPub document signed by `signer`, by default the instance actor
    (every fetch of a remote actor, note or collection should come through here, so servers
    in authorized-fetch mode answer it)."""
    return await fetch_json(url, signer=signer or await instance_signer(db))


async def fetch_actor(db: Database, uri: str, signer: Signer | None = None) -> Account:
    """Fetch a remote actor document (signed by `signer`, by default the instance actor, so
    servers in authorized-fetch mode answer) and store it; the stored account. A domain that
    answers is no longer marked unavailable."""
    if is_local_uri(uri):
        raise FederationError("Not a remote actor")
    async with db.session() as session:
        if await domain_blocks.refuses(session, urlsplit(uri).netloc.lower()):
            raise FederationError("This server is blocked here")
    signer = signer or await instance_signer(db)
    doc = await fetch_signed(db, uri, signer)
    actor = parse_actor(doc, uri)
    if actor.uri != uri:  # fetched by another URL (its profile page): fetch the real id
        doc = await fetch_signed(db, actor.uri, signer)
        actor = parse_actor(doc, actor.uri)
    await read_profile_page(actor.consent, actor.uri, actor.url)
    async with db.session(write=True) as session:
        account = await store_actor(session, actor)
        await domain_health.heard_from(session, actor.domain)
        await session.commit()
        return account


async def known_actor(session: AsyncSession, uri: str) -> Account | None:
    """The stored remote account with this ActivityPub id, if any."""
    return await session.scalar(select(Account).where(Account.uri == uri))


async def actor_for(db: Database, uri: str, signer: Signer | None = None) -> Account:
    """The remote account with this id: stored, or fetched now. A stored one fetched longer
    than `ACTOR_REFRESH` ago is fetched again first (its key, profile and data-reuse choices
    may have changed), and kept as it is when that fails."""
    async with db.session() as session:
        found = await known_actor(session, uri)
    return await current_actor(db, uri, found, signer)


async def current_actor(
    db: Database, uri: str, found: Account | None, signer: Signer | None = None
) -> Account:
    """`actor_for` once the stored account with this id (`found`, None when there is none)
    was read by the caller, in a session of its own (inbox.signing_actor reads it with the
    sender's domain blocks)."""
    if found is None:
        return await fetch_actor(db, uri, signer)
    if found.fetched_at is None or utcnow() - found.fetched_at > ACTOR_REFRESH:
        try:
            return await fetch_actor(db, uri, signer)
        except FederationError:
            return found
    return found


def is_remote_handle(text: str) -> bool:
    """Whether `text` is a handle (`user@host`, `@user@host`) on another server."""
    user, at, host = text.strip().lstrip("@").partition("@")
    if not (user and at and host) or any(c in text for c in " /"):
        return False
    return host.lower() != get_settings().domain.lower()


async def resolve_handle(db: Database, handle: str, signer: Signer | None = None) -> Account:
    """A remote account by handle (`user@host` or `@user@host`, the host may carry a port),
    found through WebFinger and its actor document (fetched signed by `signer` when given:
    servers in secure mode, bovine among them, answer only signed GETs); FederationError when
    it cannot be."""
    user, _, host = handle.strip().lstrip("@").partition("@")
    if not user or not host or "/" in host or "@" in host:
        raise FederationError("Not a remote handle")
    scheme = "http" if base_url().startswith("http://") else "https"
    resource = f"acct:{quote(user)}@{quote(host, safe=':')}"
    finger = await fetch_json(
        f"{scheme}://{host}/.well-known/webfinger?resource={resource}",
        accept="application/jrd+json, application/json",
    )
    links = finger.get("links") if isinstance(finger, dict) else None
    href = next(
        (
            link.get("href")
            for link in links or []
            if isinstance(link, dict)
            and link.get("rel") == "self"
            and "json" in str(link.get("type", ""))
        ),
        None,
    )
    if not isinstance(href, str):
        raise FederationError("WebFinger gave no ActivityPub actor")
    return await fetch_actor(db, href, signer)


async def resolve_remote(db: Database, given: str) -> Account:
    """A remote account by handle (`user@host`) or actor URL, fetched now (so what it states,
    its `alsoKnownAs` among it, is current) and stored; Invalid when it cannot be (the door's
    422). The resolver the application gives the web app (http/remote_resolver.py)."""
    try:
        if given.startswith(("http://", "https://")):
            return await fetch_actor(db, given)
        return await resolve_handle(db, given)
    except FederationError as exc:
        raise Invalid(f"Validation failed: {given} cannot be resolved ({exc})") from exc


async def unknown_remote_mentions(session: AsyncSession, text: str) -> list[str]:
    """The remote handles `text` mentions that name no account stored here (at most
    `MAX_RESOLVED_MENTIONS`): what `resolve_handles` should look up before the post is
    written, so its mentions link and it is delivered to them."""
    handles = extract_remote_mentions(text)[:MAX_RESOLVED_MENTIONS]
    if not handles:
        return []
    known = set(
        await session.scalars(
            select(Account.username_lower).where(Account.username_lower.in_(handles))
        )
    )
    return [h for h in handles if h not in known]


async def resolve_handles(db: Database, handles: list[str]) -> None:
    """Look up and store each remote handle (a handle that cannot be resolved is skipped:
    its mention stays text)."""
    for handle in handles:
        try:
            await resolve_handle(db, handle)
        except FederationError:
            continue
