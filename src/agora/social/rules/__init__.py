"""The rules every service obeys: who may see a post, paging, limits, domain errors."""
