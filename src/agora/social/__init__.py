"""The social core: accounts, posts, relationships, timelines, notifications."""
