"""The Mastodon-compatible client API: REST, OAuth, discovery documents."""
