"""One router module per Mastodon resource."""
