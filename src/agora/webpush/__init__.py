"""Web Push: the outgoing door that delivers notifications to push services."""
