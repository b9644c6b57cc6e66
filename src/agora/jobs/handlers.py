"""Importing this module registers every job handler with the queue."""

from agora.ai import mentions
from agora.federation import inbox, outbox
from agora.social.people import reports
from agora.social.reading import fan_out as feeds
from agora.social.reading import notifications

__all__ = ["feeds", "inbox", "mentions", "notifications", "outbox", "reports"]
