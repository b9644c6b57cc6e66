"""Agora: an open, self-hostable microblogging network with an AI assistant built in."""

__version__ = "0.1.0"
