"""Durable background jobs: the transactional outbox and the workers that drain it."""
