"""Importing this module registers every job handler with the queue."""

from agora.ai import mentions
from agora.social import feeds, notifications, reports
from agora.social import media as media  # the media clean-up jobs
from agora.social import polls as polls  # the poll expiry job

__all__ = ["feeds", "mentions", "notifications", "reports"]
