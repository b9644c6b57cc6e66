"""Community Notes: notes on public posts, their ratings, and their scoring as X does
(docs/COMMUNITY_NOTES.md)."""
