"""`python -m agora.cli`: the `agora` command."""

from agora.cli.main import app

app()
