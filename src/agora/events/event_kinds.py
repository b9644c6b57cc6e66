"""The live events the bus carries: their names (`EventName`) and the shape of each
(`LiveEvent`), the contract between the jobs that announce them (social/live/streams.py) and
the hub that streams them (http/streaming/hub.py).

An event crosses processes as a JSON object (redis_bus.py): a name is sent as its string
value, so the wire format is the plain `{"event": "update", "post_id": 1, ...}`. Producers are
held to these shapes by the type checker; a consumer receives a `bus.Event` (a JSON object
that may come from another process, or another version) and reads it defensively.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypedDict


class EventName(StrEnum):
    UPDATE = "update"  # a post or boost entered home feeds
    STATUS_UPDATE = "status.update"  # a post was edited
    DELETE = "delete"
    NOTIFICATION = "notification"
    CONVERSATION = "conversation"  # a direct message entered a conversation
    CREDENTIALS = "credentials"  # a token was revoked or an account suspended (not streamed)
    ANNOUNCEMENT = "announcement"  # admins published or changed an announcement
    ANNOUNCEMENT_REACTION = "announcement.reaction"  # a reaction's count changed
    ANNOUNCEMENT_DELETE = "announcement.delete"


ANNOUNCEMENT_EVENTS = (
    EventName.ANNOUNCEMENT,
    EventName.ANNOUNCEMENT_REACTION,
    EventName.ANNOUNCEMENT_DELETE,
)


class PostEvent(TypedDict):
    """`update` / `status.update`: the post, its author and its visibility (as an int)."""

    event: Literal[EventName.UPDATE, EventName.STATUS_UPDATE]
    post_id: int
    account_id: int
    visibility: int


class DeleteEvent(TypedDict):
    """`delete`: the post, its author and visibility, the boosts deleted with it as
    `[[boost id, booster id], ...]`, and whether the post was itself a boost."""

    event: Literal[EventName.DELETE]
    post_id: int
    account_id: int
    visibility: int
    reblogs: list[list[int]]
    boost: bool


class NotificationEvent(TypedDict):
    """`notification`: the recipient and the notification."""

    event: Literal[EventName.NOTIFICATION]
    account_id: int
    notification_id: int


class ConversationEvent(TypedDict):
    """`conversation`: a participant and their conversation that a direct post entered."""

    event: Literal[EventName.CONVERSATION]
    account_id: int
    conversation_id: int


class CredentialsEvent(TypedDict):
    """`credentials`: every process forgets this account's tokens, or this token, that it
    holds in memory (auth/token_cache.py). Never sent to a client."""

    event: Literal[EventName.CREDENTIALS]
    account_id: int | None
    token_id: int | None


class AnnouncementEvent(TypedDict):
    """`announcement` / `announcement.reaction` / `announcement.delete`: the announcement,
    and for a reaction its emoji and new count. Every `user` stream receives it, with the
    same payload for everyone (Mastodon's: no listener's own `read` / `me`)."""

    event: Literal[
        EventName.ANNOUNCEMENT, EventName.ANNOUNCEMENT_REACTION, EventName.ANNOUNCEMENT_DELETE
    ]
    announcement_id: int
    name: str | None
    count: int | None


LiveEvent = (
    PostEvent
    | DeleteEvent
    | NotificationEvent
    | ConversationEvent
    | CredentialsEvent
    | AnnouncementEvent
)
