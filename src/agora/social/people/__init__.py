"""People: accounts, relationships, moderation, reports, the lists of a person's connections."""
