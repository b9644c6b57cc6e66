"""The filter rule's keyword matching: the fast path (whole words as a set, split once per
post) finds exactly what Mastodon's regular expressions find (`keyword_pattern`, one per
keyword), first match included, on many generated texts and keyword sets."""

from __future__ import annotations

import random
import re

from agora.social.rules.filtering import (
    _WORD,
    PostText,
    compile_keywords,
    keyword_pattern,
)

VOCABULARY = ["dune", "Dune", "DUNE", "dunes", "spice", "c++", "C#", "a.b", "über", "ÜBER"]
VOCABULARY += ["sand worm", "worm", "x", "tea", "teapot", "é", "naïve", "#tag", "@bob", "100%"]
GLUE = [" ", ", ", ".", "-", "_", "\n", "'", "(", ")", "!", ""]


def _reference(keywords: list[tuple[str, bool]], text: str) -> set[str]:
    """Mastodon's way: each keyword's own regex; what may be reported is any keyword found at
    the earliest position (lower-cased; empty: no match)."""
    found = [
        (m.start(), m.group(0).lower())
        for keyword, whole in keywords
        if (m := re.search(keyword_pattern(keyword, whole), text, re.IGNORECASE)) is not None
    ]
    first = min((at for at, _ in found), default=None)
    return {word for at, word in found if at == first}


def test_the_fast_path_agrees_with_one_regex_per_keyword() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        keywords = [(rng.choice(VOCABULARY), rng.random() < 0.7) for _ in range(rng.randint(1, 6))]
        keywords = list(dict.fromkeys(keywords))
        text = "".join(rng.choice(VOCABULARY) + rng.choice(GLUE) for _ in range(rng.randint(0, 12)))
        compiled = compile_keywords(tuple(keywords))
        found = compiled.first_match(text, _WORD.findall(text))
        expected = _reference(keywords, text)
        assert (found is None) == (not expected), (keywords, text, found, expected)
        if expected:
            assert found is not None and found.lower() in expected, (keywords, text, found)


def test_searchable_text_holds_every_part() -> None:
    text = PostText("cw", "body", ("a cat",)).searchable(["yes", "no"])
    assert text == "cw\n\nbody\n\nyes\n\nno\n\na cat"
    assert PostText("", "body", ()).searchable([]) == "body"  # no empty parts between
