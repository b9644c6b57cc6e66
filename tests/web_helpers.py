"""Kept for tests written before tests/helpers.py: the web helpers live there now."""

from helpers import HX, PASSWORD, csrf_of, post_ids, web_sign_in
from helpers import post_status_id as api_post

__all__ = ["HX", "PASSWORD", "api_post", "csrf_of", "post_ids", "web_sign_in"]
