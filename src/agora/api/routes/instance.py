"""The instance and discovery documents: instance v1/v2 and what apps read beside them
(rules, extended description, privacy policy, terms of service, weekly activity, peers),
nodeinfo, webfinger, host-meta, OAuth server metadata, custom emojis, preferences. Public,
as Mastodon's; each answers from one service call of social/instance/."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agora import __version__
from agora.api.entities import account_json, custom_emoji_json, iso
from agora.auth.scopes import GRANULAR, TOP_LEVEL
from agora.config import Settings, get_settings
from agora.db.models import Account
from agora.federation import instance_actor
from agora.http.deps import SessionDep, caller
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.social.instance import activity_stats, instance_documents, peer_servers
from agora.social.instance.instance_settings import effective, rules_of
from agora.social.live.streams import streaming_url
from agora.social.media.custom_emojis import listed
from agora.social.media.images import CONTENT_TYPES
from agora.social.media.transcoding import UPLOAD_MIME_TYPES, ffmpeg_available
from agora.social.media.uploads import MAX_DESCRIPTION_CHARS
from agora.social.people.accounts import instance_stats
from agora.social.people.lookup import find_by_username
from agora.social.posts.quote_rule import default_quote_policy
from agora.social.reading.push_keys import vapid_public_key
from agora.social.rules import limits

router = APIRouter()
MASTODON_API_VERSION = "4.5.0"  # the Mastodon release whose API Agora follows
MASTODON_VERSION = f"{MASTODON_API_VERSION} (compatible; Agora {__version__})"
API_VERSIONS = {"mastodon": 7}  # Mastodon 4.5's `api_versions` (4.3 said 2)
# Mastodon 4.5's `configuration.timelines_access`: who may read which feed. Agora's public
# and hashtag timelines, and the feeds of trending links (`/api/v1/timelines/link`), are open
# to anyone, local and remote posts alike.
TIMELINES_ACCESS = {
    "live_feeds": {"local": "public", "remote": "public"},
    "hashtag_feeds": {"local": "public", "remote": "public"},
    "trending_link_feeds": {"local": "public", "remote": "public"},
}


def _configuration(vapid_key: str) -> dict[str, Any]:
    """Instance v1's `configuration`; v2's adds `urls`' pages, `limited_federation` and
    `timelines_access` (`_configuration_v2`)."""
    s = get_settings()
    av_types = list(UPLOAD_MIME_TYPES) if ffmpeg_available(s.media_ffmpeg) else []
    return {
        "vapid": {"public_key": vapid_key},
        "urls": {"streaming": streaming_url(s.base_url)},
        "accounts": {
            "max_featured_tags": limits.MAX_FEATURED_TAGS,
            "max_pinned_statuses": limits.MAX_PINS,
        },
        "statuses": {
            "max_characters": s.max_status_chars,
            "max_media_attachments": s.media_max_attachments,
            "characters_reserved_per_url": s.url_chars,
        },
        "media_attachments": {
            "supported_mime_types": list(CONTENT_TYPES.values()) + av_types,
            "image_size_limit": s.media_max_bytes,
            "image_matrix_limit": s.media_max_pixels,
            "description_limit": MAX_DESCRIPTION_CHARS,
            "video_size_limit": s.media_av_max_bytes if av_types else 0,
            "video_frame_rate_limit": 120 if av_types else 0,
            "video_matrix_limit": s.media_max_pixels if av_types else 0,
        },
        "polls": {
            "max_options": s.poll_max_options,
            "max_characters_per_option": s.poll_max_option_chars,
            "min_expiration": s.poll_min_expiration,
            "max_expiration": s.poll_max_expiration,
        },
        "translation": {"enabled": True},  # the assistant translates (AI-generated)
    }


def _configuration_v2(vapid_key: str, s: Settings, has_terms: bool) -> dict[str, Any]:
    """Instance v2's `configuration` (Mastodon 4.5): v1's, with the pages' URLs (4.4),
    `limited_federation` (Agora federates with every server not blocked) and
    `timelines_access`."""
    found = _configuration(vapid_key)
    found["urls"] |= {
        "status": None,
        "about": f"{s.base_url}/about",
        "privacy_policy": f"{s.base_url}/privacy-policy",
        "terms_of_service": f"{s.base_url}/terms" if has_terms else None,
    }
    found["limited_federation"] = False
    found["timelines_access"] = TIMELINES_ACCESS
    return found


def _rules(s: Settings) -> list[dict[str, str]]:
    """Mastodon's Rule entities: the server rules an admin set, numbered in order."""
    return [{"id": str(i), "text": text, "hint": ""} for i, text in rules_of(s)]


@router.get("/api/v1/instance")
@router.get("/api/v1/instance/", include_in_schema=False)
async def instance_v1(request: Request, session: SessionDep) -> JSON:
    s = await effective(session)
    users, statuses = await instance_stats(session)
    return JSON(
        {
            "uri": s.domain,
            "title": s.instance_title,
            "short_description": s.instance_description,
            "description": s.instance_extended_description or s.instance_description,
            "email": s.contact_email,
            "version": MASTODON_VERSION,
            "urls": {"streaming_api": streaming_url(s.base_url)},
            "stats": {
                "user_count": users,
                "status_count": statuses,
                "domain_count": len(await peer_servers.peers(session)),
            },
            "thumbnail": f"{s.base_url}/static/header.png",
            "languages": ["en"],
            "registrations": s.registrations != "closed",
            "approval_required": s.registrations == "approval",
            "invites_enabled": False,
            "configuration": _configuration(await vapid_public_key(request.app.state.db)),
            "contact_account": None,
            "rules": _rules(s),
        }
    )


@router.get("/api/v2/instance")
@router.get("/api/v2/instance/", include_in_schema=False)  # Mastodon.py asks with the slash
async def instance_v2(request: Request, session: SessionDep) -> JSON:
    s = await effective(session)
    users, _ = await instance_stats(session)
    return JSON(
        {
            "domain": s.domain,
            "title": s.instance_title,
            "version": MASTODON_VERSION,
            "source_url": "https://example.invalid/agora",
            "description": s.instance_description,
            "usage": {"users": {"active_month": users}},
            "thumbnail": {"url": f"{s.base_url}/static/header.png"},
            "languages": ["en"],
            "icon": [],
            "configuration": _configuration_v2(
                await vapid_public_key(request.app.state.db), s, bool(s.instance_terms_of_service)
            ),
            "registrations": {
                "enabled": s.registrations != "closed",
                "approval_required": s.registrations == "approval",
                "reason_required": False,
                "min_age": None,
                "message": None,
                "url": None,
            },
            "contact": {"email": s.contact_email, "account": None},
            "rules": _rules(s),
            "api_versions": API_VERSIONS,
        }
    )


@router.get("/api/v1/instance/rules")
async def instance_rules(session: SessionDep) -> JSON:
    """The server rules (Mastodon's Rule entities), in order."""
    return JSON(_rules(await effective(session)))


def _document_json(found: instance_documents.Document) -> dict[str, Any]:
    return {"updated_at": iso(found.updated_at), "content": found.content}


@router.get("/api/v1/instance/extended_description")
async def extended_description(session: SessionDep) -> JSON:
    """Mastodon's ExtendedDescription: the longer "about" text as HTML and its date."""
    return JSON(_document_json(await instance_documents.extended_description(session)))


@router.get("/api/v1/instance/privacy_policy")
async def privacy_policy(session: SessionDep) -> JSON:
    """Mastodon's PrivacyPolicy: HTML and its date."""
    return JSON(_document_json(await instance_documents.privacy_policy(session)))


def _terms_json(found: instance_documents.Document) -> dict[str, Any]:
    return {
        "effective_date": found.effective_date.isoformat(),
        "effective": True,
        "content": found.content,
        "succeeded_by": None,
    }


@router.get("/api/v1/instance/terms_of_service")
async def terms_of_service(session: SessionDep) -> JSON:
    """Mastodon's TermsOfService in effect (404 when the server publishes none)."""
    return JSON(_terms_json(await instance_documents.terms_of_service(session)))


@router.get("/api/v1/instance/terms_of_service/{on}")
async def terms_of_service_on(session: SessionDep, on: str) -> JSON:
    """The terms of service that took effect on day `on` (YYYY-MM-DD; 404 for another)."""
    try:
        day = date.fromisoformat(on)
    except ValueError:
        raise ApiError(404, "Record not found") from None
    return JSON(_terms_json(await instance_documents.terms_of_service(session, day)))


@router.get("/api/v1/instance/activity")
async def instance_activity(session: SessionDep) -> JSON:
    """Mastodon's weekly activity: 12 weeks, this one first, the counts as strings."""
    return JSON(
        [
            {
                "week": str(int(week.start.timestamp())),
                "statuses": str(week.statuses),
                "logins": str(week.logins),
                "registrations": str(week.registrations),
            }
            for week in await activity_stats.weekly(session)
        ]
    )


@router.get("/api/v1/instance/peers")
async def instance_peers(session: SessionDep) -> JSON:
    """The domains of the servers this one knows."""
    return JSON(await peer_servers.peers(session))


@router.get("/api/v1/custom_emojis")
async def custom_emojis(session: SessionDep) -> JSON:
    """The enabled local custom emoji (public, as on Mastodon)."""
    return JSON([custom_emoji_json(e) for e in await listed(session)])


@router.get("/api/v1/preferences")
async def preferences(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    """Mastodon's Preferences; `posting:default:quote_policy` (4.5) is the account's
    `source[quote_policy]`."""
    quote_policy = (await default_quote_policy(session, me.id)).api_name
    return JSON(
        {
            "posting:default:visibility": "public",
            "posting:default:sensitive": False,
            "posting:default:language": None,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
            "posting:default:quote_policy": quote_policy,
        }
    )


@router.get("/.well-known/oauth-authorization-server")
async def oauth_metadata() -> JSON:
    base = get_settings().base_url
    scopes = sorted(TOP_LEVEL) + sorted(f"{k}:{v}" for k, vs in GRANULAR.items() for v in vs)
    return JSON(
        {
            "issuer": f"{base}/",
            "service_documentation": f"{base}/docs",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "password", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
    )


@router.get("/.well-known/webfinger")
async def webfinger(session: SessionDep, resource: str = "") -> Response:
    s = get_settings()
    name = resource.removeprefix("acct:")
    if name.startswith(("http://", "https://")):  # a profile URL (`/@NAME`, `/users/NAME`) here
        if urlsplit(name).netloc.lower() != urlsplit(s.base_url).netloc.lower():
            raise ApiError(404, "Record not found")
        name = urlsplit(name).path.rstrip("/").rsplit("/", 1)[-1].lstrip("@")
    user, _, host = name.partition("@")
    if instance_actor.is_instance_actor(user, host):
        return JSON(instance_actor.webfinger_links(), media_type="application/jrd+json")
    account = await find_by_username(session, user) if (not host or host == s.domain) else None
    if account is None:
        raise ApiError(404, "Record not found")
    profile = account_json(account)
    return JSON(
        {
            "subject": f"acct:{account.username}@{s.domain}",
            "aliases": [profile["url"], profile["uri"]],
            "links": [
                {
                    "rel": "http://webfinger.net/rel/profile-page",
                    "type": "text/html",
                    "href": profile["url"],
                },
                {"rel": "self", "type": "application/activity+json", "href": profile["uri"]},
            ],
        },
        media_type="application/jrd+json",
    )


@router.get("/.well-known/host-meta")
async def host_meta(request: Request) -> Response:
    """host-meta: XML (XRD), or JSON (JRD) to a client that asks for it."""
    if "json" in request.headers.get("accept", "").lower():
        return await host_meta_json()
    base = get_settings().base_url
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return Response(xml, media_type="application/xrd+xml")


@router.get("/.well-known/host-meta.json")
async def host_meta_json() -> Response:
    """host-meta as JSON (JRD), as Mastodon serves it."""
    template = f"{get_settings().base_url}/.well-known/webfinger?resource={{uri}}"
    return JSON({"links": [{"rel": "lrdd", "template": template}]}, media_type="application/json")


@router.get("/.well-known/nodeinfo")
async def nodeinfo_index() -> JSON:
    base = get_settings().base_url
    return JSON(
        {
            "links": [
                {
                    "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                    "href": f"{base}/nodeinfo/2.0",
                },
                {
                    "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                    "href": f"{base}/nodeinfo/2.1",
                },
            ]
        }
    )


async def _nodeinfo(session: SessionDep, version: str) -> JSON:
    """NodeInfo 2.0 / 2.1. `metadata.upstream` names Mastodon, as Mastodon forks do, so that
    clients choosing an adapter by nodeinfo (megalodon's `detector()`, hence Whalebird) treat
    Agora as Mastodon; `software` stays Agora's own."""
    s = await effective(session)
    software: dict[str, Any] = {"name": "agora", "version": __version__}
    if version == "2.1":
        software["repository"] = "https://example.invalid/agora"
    users, statuses = await instance_stats(session)
    return JSON(
        {
            "version": version,
            "software": software,
            "protocols": ["activitypub"],
            "services": {"outbound": [], "inbound": []},
            "usage": {
                "users": {"total": users, "activeMonth": users, "activeHalfyear": users},
                "localPosts": statuses,
            },
            "openRegistrations": s.registrations == "open",
            "metadata": {
                "nodeName": s.instance_title,
                "nodeDescription": s.instance_description,
                "upstream": {"name": "mastodon", "version": MASTODON_API_VERSION},
            },
        }
    )


@router.get("/nodeinfo/2.0")
async def nodeinfo_20(session: SessionDep) -> JSON:
    return await _nodeinfo(session, "2.0")


@router.get("/nodeinfo/2.1")
async def nodeinfo_21(session: SessionDep) -> JSON:
    return await _nodeinfo(session, "2.1")
