"""The HTTP layer both doors (the Mastodon API and the web app) share: sessions and callers,
parameters, JSON, error responses, the request guard, rate limits, AI-use signals, log
redaction, and the streaming hub and wires. It imports no door."""
