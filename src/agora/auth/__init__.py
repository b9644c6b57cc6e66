"""Sign-in: passwords, OAuth 2 apps, codes and tokens, scopes."""
