"""The web door: server-rendered pages (for now the OAuth sign-in and consent pages)."""
