"""Community Notes scoring (social/community_notes/note_scoring.py): X's status thresholds
exactly, hysteresis, and the bridging property on a simulated population of two camps who
rate by camp plus a true helpfulness signal, at several sizes and seeds."""

from __future__ import annotations

import numpy as np
import pytest

from agora.social.community_notes.note_scoring import (
    NoteStatus,
    Ratings,
    fit,
    rater_weights,
    score,
    settled_status,
    status_of,
)

HELPFUL, NOT_HELPFUL, NEEDS = (
    NoteStatus.HELPFUL,
    NoteStatus.NOT_HELPFUL,
    NoteStatus.NEEDS_MORE_RATINGS,
)
BRIDGING, CAMP_A, CAMP_B, POOR = 0, 1, 2, 3


@pytest.mark.parametrize(
    ("intercept", "factor", "ratings", "expected"),
    [
        (0.40, 0.0, 5, HELPFUL),  # the intercept threshold is inclusive
        (0.3999, 0.0, 5, NEEDS),
        (0.40, 0.4999, 5, HELPFUL),
        (0.40, 0.5, 5, NEEDS),  # |f_n| < 0.5, strictly
        (0.40, -0.5, 5, NEEDS),
        (0.90, -0.49, 5, HELPFUL),
        (0.90, 0.0, 4, NEEDS),  # at least five ratings
        (-0.0501, 0.0, 5, NOT_HELPFUL),  # < -0.05 - 0.8 * 0
        (-0.05, 0.0, 5, NEEDS),
        (-0.4501, 0.5, 5, NOT_HELPFUL),  # < -0.05 - 0.8 * 0.5 = -0.45
        (-0.45, 0.5, 5, NEEDS),
        (-0.4501, -0.5, 5, NOT_HELPFUL),
        (-0.9, 0.0, 4, NEEDS),
        (0.1, 0.0, 100, NEEDS),
    ],
)
def test_status_thresholds_are_xs(intercept, factor, ratings, expected):
    assert status_of(intercept, factor, ratings) == expected


def test_statuses_change_only_past_a_margin():
    # a Helpful note keeps its status just under the bar, loses it past the margin
    assert settled_status(0.38, 0.0, 9, HELPFUL) == HELPFUL
    assert settled_status(0.369, 0.0, 9, HELPFUL) == NEEDS
    assert settled_status(0.5, 0.54, 9, HELPFUL) == HELPFUL
    assert settled_status(0.5, 0.55, 9, HELPFUL) == NEEDS
    # a Not Helpful note keeps its status until it passes the bar by 0.03
    assert settled_status(-0.03, 0.0, 9, NOT_HELPFUL) == NOT_HELPFUL
    assert settled_status(-0.02, 0.0, 9, NOT_HELPFUL) == NEEDS
    # entering a status needs the exact thresholds
    assert settled_status(0.39, 0.0, 9, NEEDS) == NEEDS
    assert settled_status(0.39, 0.0, 9, None) == NEEDS
    # and a swing across both bars is taken at once
    assert settled_status(-0.5, 0.0, 9, HELPFUL) == NOT_HELPFUL


def _population(raters: int, notes: int, per_note: int, seed: int) -> tuple[Ratings, np.ndarray]:
    """Two camps (half each); notes of four kinds: bridging (helpful: both camps rate it
    helpful 92% of the time), one camp's (90% of that camp, 10% of the other), poor (8%).
    The rest of each rating is 5% "somewhat helpful", then "not helpful"."""
    rng = np.random.default_rng(seed)
    camp = rng.choice([-1, 1], raters)
    kind = rng.choice(4, notes, p=[0.2, 0.15, 0.15, 0.5])
    helpful_by = {
        BRIDGING: (0.92, 0.92),
        CAMP_A: (0.9, 0.1),
        CAMP_B: (0.1, 0.9),
        POOR: (0.08, 0.08),
    }
    rater, note, value = [], [], []
    for n in range(notes):
        for u in rng.choice(raters, per_note, replace=False):
            p = helpful_by[int(kind[n])][0 if camp[u] == 1 else 1]
            x = rng.random()
            rater.append(u)
            note.append(n)
            value.append(1.0 if x < p else 0.5 if x < p + 0.05 else 0.0)
    ratings = Ratings(np.array(rater), np.array(note), np.array(value), raters, notes)
    return ratings, kind


@pytest.mark.parametrize(
    ("raters", "notes", "per_note", "seed"),
    [(100, 40, 12, 1), (100, 40, 12, 2), (300, 120, 15, 3), (300, 120, 15, 4), (1500, 500, 20, 5)],
)
def test_bridging_notes_become_helpful_one_camp_notes_do_not(raters, notes, per_note, seed):
    ratings, kind = _population(raters, notes, per_note, seed)
    statuses = np.array([s.value for s in score(ratings, seed=seed).statuses])
    bridging = statuses[kind == BRIDGING]
    one_camp = statuses[(kind == CAMP_A) | (kind == CAMP_B)]
    poor = statuses[kind == POOR]
    assert len(bridging) and len(one_camp)
    assert (bridging == "helpful").mean() >= 0.6
    assert not (one_camp == "helpful").any()  # the bridging property
    assert not (poor == "helpful").any()
    assert (poor == "not_helpful").mean() >= 0.3
    assert not (bridging == "not_helpful").any()


def test_the_factor_separates_the_camps_and_one_camp_notes():
    ratings, kind = _population(300, 120, 15, 7)
    fitted = fit(ratings)
    one_camp = np.abs(fitted.note_factor[(kind == CAMP_A) | (kind == CAMP_B)])
    bridging = np.abs(fitted.note_factor[kind == BRIDGING])
    assert one_camp.mean() > 2 * bridging.mean()
    # notes of opposite camps get factors of opposite signs
    a, b = fitted.note_factor[kind == CAMP_A].mean(), fitted.note_factor[kind == CAMP_B].mean()
    assert a * b < 0


def test_raters_who_disagree_with_decided_notes_lose_their_say():
    # note 0 is Helpful, note 1 Not Helpful, note 2 undecided; rater 0 agrees with both,
    # rater 1 contradicts every decided note, rater 2 rated only the undecided note
    rater = np.array([0, 0, 1, 1, 1, 1, 0, 2])
    note = np.array([0, 1, 0, 1, 0, 1, 2, 2])
    value = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    # rater 1 has 4 ratings of decided notes, all contradicting (2 distinct notes, counted per
    # rating as X counts ratings)
    ratings = Ratings(rater, note, value, 3, 3)
    weights = rater_weights(ratings, [HELPFUL, NOT_HELPFUL, NEEDS])
    assert weights.tolist() == [1.0, 0.0, 1.0]


def test_a_fit_is_deterministic_for_a_seed():
    ratings, _ = _population(100, 40, 12, 1)
    one, two = score(ratings, seed=3), score(ratings, seed=3)
    assert np.array_equal(one.note_intercept, two.note_intercept)
    assert one.statuses == two.statuses
