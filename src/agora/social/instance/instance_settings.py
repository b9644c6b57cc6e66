"""Server settings an admin changes at run time (the console's settings page): whether and how
people may sign up, the descriptions, the rules, the privacy policy and terms of service,
who may see the blocked servers, and the AI-use defaults. Each is a field of
`config.Settings`; its AGORA_* (or config-file) value is the default, a row of
`instance_settings` overrides it.

Invariant: every reader of an `EDITABLE` setting asks `effective(session)` (one query of a
table of a few rows), never `get_settings()`, so a change is seen by the next request of
every process at once: nothing is cached across requests. `change` is the only writer: it
checks every value first (nothing is stored if one is wrong), writes the changed ones, logs
each in the moderation log and commits. Pages read them once per request (web/session.py
`current_viewer`); `last_known` serves only a page rendered without a session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import Settings, get_settings
from agora.db.models import Account, InstanceSetting, utcnow
from agora.social.people.moderation import log_server_action
from agora.social.rules.errors import Invalid

REGISTRATIONS = ("open", "approval", "closed")
DOMAIN_BLOCKS_SHOWN = ("disabled", "users", "all")
MAX_DESCRIPTION = 5000
MAX_DOCUMENT = 100_000  # the privacy policy and the terms of service
MAX_RULES = 50
MAX_RULE = 500


@dataclass(frozen=True, slots=True)
class SettingsInput:
    """What an admin sends: None leaves a setting as it is."""

    registrations: str | None = None
    instance_description: str | None = None
    instance_extended_description: str | None = None
    instance_rules: list[str] | None = None
    instance_privacy_policy: str | None = None
    instance_terms_of_service: str | None = None
    domain_blocks_shown: str | None = None
    ai_training_default: bool | None = None
    search_indexing: bool | None = None
    tdm_reservation: bool | None = None
    trends_auto_approve: bool | None = None


def _registrations(value: Any) -> str:
    if value not in REGISTRATIONS:
        raise Invalid("Validation failed: registrations must be one of open, approval, closed")
    return str(value)


def _description(value: Any) -> str:
    text = str(value).strip()
    if len(text) > MAX_DESCRIPTION:
        raise Invalid(f"Validation failed: a description is at most {MAX_DESCRIPTION} characters")
    return text


def _document(value: Any) -> str:
    text = str(value).strip()
    if len(text) > MAX_DOCUMENT:
        raise Invalid(f"Validation failed: a policy is at most {MAX_DOCUMENT} characters")
    return text


def _domain_blocks_shown(value: Any) -> str:
    if value not in DOMAIN_BLOCKS_SHOWN:
        raise Invalid("Validation failed: domain_blocks_shown must be disabled, users or all")
    return str(value)


def _rules(value: Any) -> list[str]:
    rules = [str(rule).strip() for rule in value if str(rule).strip()]
    if len(rules) > MAX_RULES:
        raise Invalid(f"Validation failed: at most {MAX_RULES} rules")
    if any(len(rule) > MAX_RULE for rule in rules):
        raise Invalid(f"Validation failed: a rule is at most {MAX_RULE} characters")
    return rules


def _boolean(value: Any) -> bool:
    return bool(value)


# The settings an admin may change, each with the check that cleans its value.
EDITABLE: dict[str, Callable[[Any], Any]] = {
    "registrations": _registrations,
    "instance_description": _description,
    "instance_extended_description": _description,
    "instance_rules": _rules,
    "instance_privacy_policy": _document,
    "instance_terms_of_service": _document,
    "domain_blocks_shown": _domain_blocks_shown,
    "ai_training_default": _boolean,
    "search_indexing": _boolean,
    "tdm_reservation": _boolean,
    "trends_auto_approve": _boolean,
}
assert {f.name for f in fields(SettingsInput)} == set(EDITABLE)

_last: Settings | None = None  # what `effective` last answered in this process


async def overrides(session: AsyncSession) -> dict[str, Any]:
    """The settings admins changed, by name (rows of settings no longer editable are
    ignored)."""
    rows = await session.execute(select(InstanceSetting.name, InstanceSetting.value))
    return {str(name): value for name, value in rows if name in EDITABLE}


async def effective(session: AsyncSession) -> Settings:
    """The process's `Settings` with the admins' changes applied: what every reader of an
    editable setting uses."""
    global _last
    changed = await overrides(session)
    base = get_settings()
    _last = base.model_copy(update=changed) if changed else base  # a shallow copy: cheap
    return _last


def last_known() -> Settings:
    """The settings last read by `effective` in this process (the environment's before
    any): only for a page rendered without a database session (an error page)."""
    return _last if _last is not None else get_settings()


async def changed_at(session: AsyncSession, name: str) -> datetime | None:
    """When an admin last changed setting `name` (None: it keeps its environment value)."""
    found: datetime | None = await session.scalar(
        select(InstanceSetting.updated_at).where(InstanceSetting.name == name)
    )
    return found


def rules_of(settings: Settings) -> list[tuple[int, str]]:
    """The server rules with their ids (1, 2, … in order), as the instance and reports name
    them."""
    return list(enumerate(settings.instance_rules, start=1))


async def change(session: AsyncSession, given: SettingsInput, *, by: Account | None) -> list[str]:
    """Apply an admin's changes; returns the names of the settings that changed. A value
    equal to the environment's default removes the override. Invalid (nothing changes) for
    any bad value. Logs each change (`setting`) and commits."""
    current = await effective(session)
    base = get_settings()
    cleaned = {
        name: EDITABLE[name](value)
        for name, value in ((f.name, getattr(given, f.name)) for f in fields(given))
        if value is not None
    }
    changed = [name for name, value in cleaned.items() if getattr(current, name) != value]
    now = utcnow()
    for name in changed:
        value = cleaned[name]
        await session.execute(delete(InstanceSetting).where(InstanceSetting.name == name))
        if getattr(base, name) != value:
            session.add(InstanceSetting(name=name, value=value, updated_at=now))
        log_server_action(session, by, "setting", f"{name} = {json.dumps(value)}"[:5000])
    await session.commit()
    return changed
