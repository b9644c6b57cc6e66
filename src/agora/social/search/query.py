"""What a person typed into the search box, parsed into a safe, backend-neutral query.

Supported syntax (a subset of Mastodon's): words (all required), `"exact phrases"`,
`-word` / `-"phrase"` to exclude, `from:username` to search one author's posts. `#tag` and
`@name` search the word. Anything else is plain text: the full-text engines never see the
raw input, only words made of letters and digits, so no input can be a syntax error
(quotes, `*`, `NEAR`, `-`, `:` included).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 1000
"""Longer queries are refused by the API (422); services truncate instead."""

MAX_TERMS = 32
"""Words beyond this many are dropped (each one costs a posting-list merge)."""

WORD = re.compile(r"[^\W_]+")
"""A word: letters and digits, as the SQLite unicode61 tokenizer and PostgreSQL's parser
split text (underscores and punctuation separate words)."""

# Function words left out when any word may match (the assistant's relaxed search): in a
# natural-language question they would match nearly every post. Only for that fallback; the
# index itself has no stop words.
_STOP_LIST = (
    "a an and are as at be but by can could did do does for from had has have how i if in "
    "into is it its me my no not of on or our she so that the their them then there these "
    "they this to was we were what when where which who why will with would you your "
    "about any some than too very just also been being he her him his more most"
)
STOP_WORDS = frozenset(_STOP_LIST.split())

_PIECE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_OPERATOR = re.compile(r"^(-?)from:@?([A-Za-z0-9_]{1,30})(?:@\S*)?$", re.IGNORECASE)


def fold(text: str) -> str:
    """Lower-case and strip diacritics (as `remove_diacritics 2` does in the index)."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str, *, folded: bool = True) -> list[str]:
    """The searchable words of a text, lower-cased and (unless `folded` is False) without
    diacritics. Queries keep them: SQLite folds on its own, PostgreSQL's 'simple'
    configuration does not, so "café" must reach it as typed."""
    return WORD.findall(fold(text) if folded else text.lower())


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A parsed query: every term and phrase must match, no excluded word may."""

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()
    author: str | None = None  # from:username, lower-cased

    @property
    def searchable(self) -> bool:
        """True when there is something to match (exclusions alone match nothing)."""
        return bool(self.terms or self.phrases)

    @property
    def positive_words(self) -> list[str]:
        """Every word the results should contain, phrases included (for ranking)."""
        seen = dict.fromkeys([*self.terms, *(w for p in self.phrases for w in p)])
        return list(seen)

    def relaxed(self) -> TextQuery:
        """The same query with its phrases split into words and stop words dropped, for
        matching any word (keeps everything when nothing else would be left)."""
        every = self.positive_words
        kept = [w for w in every if w not in STOP_WORDS] or every
        return TextQuery(terms=tuple(kept), excluded=self.excluded, author=self.author)

    def fts5(self, any_term: bool = False) -> str:
        """The SQLite FTS5 MATCH expression. Every word is a quoted string of letters and
        digits, so the expression is valid whatever the input was."""
        parts = [f'"{t}"' for t in self.terms] + [f'"{" ".join(p)}"' for p in self.phrases]
        positive = (" OR " if any_term else " AND ").join(parts)
        excluded = "".join(f' NOT "{w}"' for w in self.excluded)
        return f"({positive}){excluded}"

    def websearch(self, any_term: bool = False) -> str:
        """Input for PostgreSQL's `websearch_to_tsquery` (which never fails on any input)."""
        parts = list(self.terms) + [f'"{" ".join(p)}"' for p in self.phrases]
        positive = (" or " if any_term else " ").join(parts)
        return " ".join([positive, *(f"-{w}" for w in self.excluded)])


def parse(text: str) -> TextQuery:
    """Parse a query (truncated to MAX_QUERY_CHARS, at most MAX_TERMS words kept)."""
    terms: list[str] = []
    phrases: list[tuple[str, ...]] = []
    excluded: list[str] = []
    author = None
    budget = MAX_TERMS
    for match in _PIECE.finditer(text[:MAX_QUERY_CHARS]):
        negated, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None:
            operator = _OPERATOR.match(bare)
            if operator and not operator.group(1):
                author = operator.group(2).lower()
                continue
            negated, quoted = ("-", bare[1:]) if bare.startswith("-") else ("", bare)
        found = words(quoted, folded=False)[:budget]
        budget -= len(found)
        if negated:
            excluded.extend(found)
        elif len(found) > 1 and bare is None:
            phrases.append(tuple(found))
        else:
            terms.extend(found)
        if budget <= 0:
            break
    return TextQuery(
        terms=tuple(dict.fromkeys(terms)),
        phrases=tuple(dict.fromkeys(phrases)),
        excluded=tuple(dict.fromkeys(w for w in excluded if w not in terms)),
        author=author,
    )
