"""Posts: writing, text, interactions, polls and votes, hashtags, hydration for a viewer."""
