"""Storage: engine and sessions, models, migrations."""
