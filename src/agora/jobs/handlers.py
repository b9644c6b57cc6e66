"""Importing this module registers every job handler with the queue."""

from agora.ai import mentions
from agora.social import feeds, notifications, reports

__all__ = ["feeds", "mentions", "notifications", "reports"]
