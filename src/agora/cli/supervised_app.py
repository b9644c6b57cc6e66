"""The application factory of `agora serve --workers N`'s children: the same app, in a
process that exits with its supervisor (cli/parent_death.py)."""

from __future__ import annotations

from fastapi import FastAPI

from agora.app import create_app
from agora.cli.parent_death import die_with_parent


def create_supervised_app() -> FastAPI:
    """`create_app()` in a child that dies with its parent."""
    die_with_parent()
    return create_app()
