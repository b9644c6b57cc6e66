"""The application factory of `agora serve --workers N`'s children: the same app, in a
process that exits with its supervisor (cli/parent_death.py). The request to the kernel is
made as this module is imported, before the application's modules (seconds on a loaded
machine), so that a child whose supervisor dies while it starts exits too."""

from __future__ import annotations

from agora.cli.parent_death import die_with_parent

die_with_parent()

from fastapi import FastAPI  # noqa: E402  # after the request above, on purpose

from agora.app import create_app  # noqa: E402  # after the request above, on purpose


def create_supervised_app() -> FastAPI:
    """`create_app()` in a child that dies with its parent."""
    return create_app()
