"""The `agora` command."""
