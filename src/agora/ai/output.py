"""What leaves the model: its text cleaned of prompt echoes and of the markers that quote posts.

Small models often answer by repeating their prompt ("The conversation so far:\\n(no earlier
posts you may read)… <post author=…"). Every provider's output passes through here
(`providers.Cleaned` wraps each provider), so no path can post, show, store or stream it:
mention replies, explain / summarise / translate, composer helpers, alt text, chat and its
streamed tokens.

Cleaning, in order:
1. quoted posts echoed whole (`<post author=… time=…>…</post>`, or cut off at the end of the
   answer) are removed;
2. pieces of the prompt's own wording are removed: every line and sentence of the system
   prompt and of the last user message outside the quoted posts (the template, the
   instructions, the instance's own system prompt), and such a piece cut off at the end;
3. any other `<post>` / `</post>` marker (or its defused look-alike) is removed, its text kept
   (a composer answer may come wrapped in markers);
4. whitespace is tidied. An answer with nothing left is `NO_ANSWER`.

Streaming (`StreamCleaner`) cleans the whole text so far and holds back only a tail that might
still become a marker or a piece of the prompt, so what it yields, joined, is `clean_output`
of the whole answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

NO_ANSWER = "I do not know."
MIN_FRAGMENT = 12  # shorter lines or sentences of the prompt are common words, not echoes
_OPEN = r"(?:<|\u2039)\s*post\b"
_QUOTED = re.compile(_OPEN + r"[^>\n]*\bauthor=[^>]*>.*?(?:(?:<|\u2039)\s*/\s*post\s*>|\Z)", re.S)
_PROMPT_QUOTE = re.compile(r"<post\b[^>]*>.*?</post>", re.S)  # the prompt's own, well formed
_MARKER = re.compile(r"(?:<|\u2039)\s*/?\s*post\b[^>\n]*(?:>|$)", re.I | re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


class PromptMessage(Protocol):
    """What cleaning reads of a prompt message (providers.Message)."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


def prompt_fragments(prompt: Sequence[PromptMessage]) -> list[str]:
    """The prompt's own wording, longest first: lines and sentences of the system prompt and of
    the last user message, outside the quoted posts (chat history is not template)."""
    sources = [m.content for m in prompt if m.role == "system"]
    users = [m.content for m in prompt if m.role == "user"]
    sources += users[-1:]
    pieces: set[str] = set()
    for source in sources:
        for line in _PROMPT_QUOTE.sub("\n", source).splitlines():
            for piece in [line, *_SENTENCE_END.split(line)]:
                piece = piece.strip()
                if len(piece) >= MIN_FRAGMENT:
                    pieces.add(piece)
    return sorted(pieces, key=len, reverse=True)


def _cut_off_echo(text: str, fragments: Sequence[str]) -> str:
    """`text` without a last piece of prompt wording that the end of the answer cut short."""
    for fragment in fragments:
        for size in range(len(fragment) - 1, MIN_FRAGMENT - 1, -1):
            if text.endswith(fragment[:size]):
                return text[: len(text) - size]
    return text


def _clean(text: str, fragments: Sequence[str], *, final: bool) -> str:
    """The cleaning steps; `final` also drops an echo cut off at the end and the fallback."""
    text = _QUOTED.sub("\n", text)
    for fragment in fragments:
        text = text.replace(fragment, "")
    if final:
        text = _cut_off_echo(text.rstrip(), fragments)
    text = _MARKER.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip() if final else text.lstrip()


def clean_output(text: str, prompt: Sequence[PromptMessage]) -> str:
    """A model's whole answer to `prompt`, cleaned (never empty: `NO_ANSWER` instead)."""
    return _clean(text, prompt_fragments(prompt), final=True) or NO_ANSWER


class StreamCleaner:
    """Cleans an answer as it streams: `feed` each piece, then `finish`; the strings they
    return, joined, are `clean_output` of the whole answer."""

    def __init__(self, prompt: Sequence[PromptMessage]) -> None:
        self._fragments = prompt_fragments(prompt)
        self._held = [*self._fragments, "<post", "</post"]
        self._raw = ""
        self._sent = ""

    def _safe_end(self) -> int:
        """Where the settled part of the raw text ends: before an open marker or quoted post,
        and before a tail that could still grow into a marker or a piece of the prompt."""
        raw = self._raw
        end = len(raw)
        for opener in ("<", "\u2039"):
            at = raw.rfind(opener)
            if at >= 0 and ">" not in raw[at:]:
                end = min(end, at)
        quoted = list(re.finditer(_OPEN + r"[^>\n]*\bauthor=", raw))
        if quoted and not re.search(r"/\s*post\s*>", raw[quoted[-1].start() :]):
            end = min(end, quoted[-1].start())
        head = raw[:end]
        for fragment in self._held:
            for size in range(min(len(fragment) - 1, len(head)), 0, -1):
                if head.endswith(fragment[:size]):
                    end = min(end, len(head) - size)
                    break
        return end

    def _emit(self, cleaned: str) -> str:
        if not cleaned.startswith(self._sent):
            return ""  # cannot happen with a settled prefix; never take back what was shown
        piece, self._sent = cleaned[len(self._sent) :], cleaned
        return piece

    def feed(self, piece: str) -> str:
        """Add a piece of the answer; returns the cleaned text now settled ('' if none)."""
        self._raw += piece
        settled = _clean(self._raw[: self._safe_end()], self._fragments, final=False)
        return self._emit(settled.rstrip())

    def finish(self) -> str:
        """The rest of the cleaned answer, once the model has stopped."""
        return self._emit(_clean(self._raw, self._fragments, final=True) or NO_ANSWER)
