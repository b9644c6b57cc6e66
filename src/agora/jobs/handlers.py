"""Importing this module registers every job handler with the queue."""

from agora.social import feeds, notifications

__all__ = ["feeds", "notifications"]
