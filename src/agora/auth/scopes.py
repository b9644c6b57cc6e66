"""OAuth scopes as Mastodon defines them: read / write / follow / push and granular ones."""

from __future__ import annotations

from collections.abc import Collection

TOP_LEVEL = {"read", "write", "follow", "push", "profile"}
GRANULAR = {
    "read": {
        "accounts",
        "blocks",
        "bookmarks",
        "favourites",
        "filters",
        "follows",
        "lists",
        "mutes",
        "notifications",
        "search",
        "statuses",
    },
    "write": {
        "accounts",
        "blocks",
        "bookmarks",
        "conversations",
        "favourites",
        "filters",
        "follows",
        "lists",
        "media",
        "mutes",
        "notifications",
        "reports",
        "statuses",
    },
    "admin:read": {
        "accounts",
        "reports",
        "domain_allows",
        "domain_blocks",
        "ip_blocks",
        "email_domain_blocks",
        "canonical_email_blocks",
    },
    "admin:write": {
        "accounts",
        "reports",
        "domain_allows",
        "domain_blocks",
        "ip_blocks",
        "email_domain_blocks",
        "canonical_email_blocks",
    },
}
# The legacy `follow` scope covers these granular ones.
FOLLOW_COVERS = {
    "read:blocks",
    "write:blocks",
    "read:follows",
    "write:follows",
    "read:mutes",
    "write:mutes",
}

# Scopes no one can ask for: only an admin grants them (`agora export grant`), and no broader
# scope covers them. `read:datasets` lets a lab read the published dataset exports.
ADMIN_GRANTED = {"read:datasets"}


def parse_scopes(value: str | None, default: str = "read") -> list[str]:
    """Split a scope string (space or plus separated) and keep order without duplicates."""
    raw = (value or default).replace("+", " ").split()
    return list(dict.fromkeys(raw))


def is_known(scope: str, *, trusted: bool = False) -> bool:
    """True when `scope` is one we understand (admin-granted ones only when `trusted`)."""
    if scope in ADMIN_GRANTED:
        return trusted
    if scope in TOP_LEVEL:
        return True
    if scope in GRANULAR:  # admin:read, admin:write
        return True
    head, _, tail = scope.rpartition(":")
    return head in GRANULAR and tail in GRANULAR[head]


def satisfies(granted: Collection[str], required: str) -> bool:
    """True when the granted scopes include `required` (a top-level scope covers its parts)."""
    if required in granted:
        return True
    if required in ADMIN_GRANTED:
        return False
    top = required.rpartition(":")[0] if required.startswith("admin:") else required.split(":")[0]
    if top in granted:  # `read` covers `read:statuses`; `admin:read` covers `admin:read:reports`
        return True
    return "follow" in granted and required in FOLLOW_COVERS


def narrow(requested: list[str], allowed: list[str]) -> list[str]:
    """The requested scopes that `allowed` (an app's registration) permits."""
    return [s for s in requested if satisfies(allowed, s)]
