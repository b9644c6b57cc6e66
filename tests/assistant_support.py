"""Shared by the assistant's model tests: settings switches, posting, and a real
OpenAI-compatible server (llama_cpp.server on the default GGUF file)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from agora.ai.providers import default_model_path
from agora.config import get_settings
from agora.social.people.assistant_account import ensure_assistant


def _use(monkeypatch, **settings: str) -> None:
    for key, value in settings.items():
        monkeypatch.setenv(f"AGORA_{key.upper()}", value)
    get_settings.cache_clear()


@pytest.fixture
async def local_assistant(db, monkeypatch):
    """The assistant account, answering with the local model (24-token answers)."""
    _use(monkeypatch, ai_provider="local", ai_max_new_tokens="24", ai_timeout_seconds="120")
    yield await assistant_account(db)
    monkeypatch.undo()
    get_settings.cache_clear()


async def assistant_account(db):
    """The assistant's account (made as `agora init` makes it)."""
    async with db.session(write=True) as session:
        account = await ensure_assistant(session)
        await session.commit()
    return account


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def openai_server(tmp_path_factory):
    """A real OpenAI-compatible server: llama_cpp.server on the same GGUF file."""
    pytest.importorskip("sse_starlette")
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", "2"]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = log_path.open("wb")  # a pipe nobody reads would fill up and block the server
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail(log_path.read_text(errors="replace")[-3000:])
    yield url
    server.terminate()
    server.wait(10)
    log.close()
