"""Scoring Community Notes as X's open algorithm does (twitter/communitynotes, "matrix
factorisation"): each rating is modelled as

    r̂(u, n) = μ + i_u + i_n + f_u · f_n

with one-dimensional factors. The factors take up what ratings share along the main axis of
disagreement (two camps rating by camp), so a note's intercept i_n is the helpfulness that is
left once camp is accounted for: high only for notes rated helpful by people who usually
disagree. Intercepts are regularised five times harder than factors (λ_i = 0.15, λ_f = 0.03),
as X does, on its loss: the mean squared error plus λ times the mean square of each group of
parameters. Multiplied by the number of ratings N, that is a sum of squared errors plus, per
parameter, λ · N / (size of its group): `fit` solves exactly that. The final fit starts
from the first (a warm start).

The solver is alternating least squares in numpy and scipy: with the raters fixed, each
note's (i_n, f_n) is a 2x2 ridge regression, solved in closed form for all notes at once from
five sums per note, which one sparse matrix product (notes x raters, the ratings' weights)
gives; then the raters' with the notes fixed; then μ. The loss is computed from the same
sums. No step raises the loss; it stops when an iteration lowers the loss by less than
`tolerance` (relative), or after `max_iterations`. Dot products are taken elementwise, not
with BLAS, whose threads spin on a busy machine (50 ms for 100,000 numbers on 2 loaded cores).

Rater helpfulness (X's "rater reputation"): a first fit gives provisional statuses; a rater's
helpfulness is the share of their ratings of decided notes (Helpful or Not Helpful) that
agree with the decision; raters under `MIN_RATER_HELPFULNESS` (0.66, X's number) once they
rated at least `MIN_DECIDED_FOR_REPUTATION` decided notes lose their say (weight 0) in the
final fit, others weigh 1.

Statuses (`status_of`), exactly X's thresholds: Helpful when i_n ≥ 0.40, |f_n| < 0.5 and the
note has at least 5 ratings; Not Helpful when i_n < -0.05 - 0.8·|f_n| (also at least 5
ratings); otherwise Needs More Ratings. `settled_status` adds hysteresis: a note keeps a
Helpful or Not Helpful status until its scores pass the threshold by a margin
(`HELPFUL_MARGIN`, `NOT_HELPFUL_MARGIN`), so a note does not flicker between rescorings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

INTERCEPT_LAMBDA = 0.15
FACTOR_LAMBDA = 0.03
HELPFUL_INTERCEPT = 0.40
HELPFUL_MAX_FACTOR = 0.5
MIN_RATINGS = 5
NOT_HELPFUL_INTERCEPT = -0.05
NOT_HELPFUL_FACTOR_SLOPE = 0.8
# Hysteresis: leaving Helpful needs i_n < 0.40 - 0.03 or |f_n| ≥ 0.5 + 0.05; leaving Not
# Helpful needs i_n ≥ -0.05 - 0.8·|f_n| + 0.03.
HELPFUL_MARGIN = (0.03, 0.05)
NOT_HELPFUL_MARGIN = 0.03
MIN_RATER_HELPFULNESS = 0.66
MIN_DECIDED_FOR_REPUTATION = 3
RATING_VALUES = {"helpful": 1.0, "somewhat_helpful": 0.5, "not_helpful": 0.0}


class NoteStatus(StrEnum):
    """Where a note stands after a rescoring."""

    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    NEEDS_MORE_RATINGS = "needs_more_ratings"


def status_of(intercept: float, factor: float, ratings: int) -> NoteStatus:
    """A note's status from its scores, with X's thresholds and no hysteresis."""
    if ratings < MIN_RATINGS:
        return NoteStatus.NEEDS_MORE_RATINGS
    if intercept >= HELPFUL_INTERCEPT and abs(factor) < HELPFUL_MAX_FACTOR:
        return NoteStatus.HELPFUL
    if intercept < NOT_HELPFUL_INTERCEPT - NOT_HELPFUL_FACTOR_SLOPE * abs(factor):
        return NoteStatus.NOT_HELPFUL
    return NoteStatus.NEEDS_MORE_RATINGS


def settled_status(
    intercept: float, factor: float, ratings: int, previous: NoteStatus | None
) -> NoteStatus:
    """`status_of`, except that a note already Helpful or Not Helpful keeps that status
    until its scores pass the threshold by the margin (module docstring)."""
    fresh = status_of(intercept, factor, ratings)
    if previous is None or fresh == previous or ratings < MIN_RATINGS:
        return fresh
    if previous == NoteStatus.HELPFUL:
        intercept_margin, factor_margin = HELPFUL_MARGIN
        keeps = (
            intercept >= HELPFUL_INTERCEPT - intercept_margin
            and abs(factor) < HELPFUL_MAX_FACTOR + factor_margin
        )
        return previous if keeps else fresh
    if previous == NoteStatus.NOT_HELPFUL:
        bar = NOT_HELPFUL_INTERCEPT - NOT_HELPFUL_FACTOR_SLOPE * abs(factor)
        return previous if intercept < bar + NOT_HELPFUL_MARGIN else fresh
    return fresh


@dataclass(frozen=True, slots=True)
class Ratings:
    """Ratings as arrays: rater index, note index and value (1, 0.5, 0) of each rating;
    indices run from 0 to `raters` - 1 and `notes` - 1."""

    rater: Ints
    note: Ints
    value: Floats
    raters: int
    notes: int


@dataclass(frozen=True, slots=True)
class Fit:
    """The fitted model: μ, intercepts and factors of notes and raters, and the ALS
    iterations it took."""

    mu: float
    note_intercept: Floats
    note_factor: Floats
    rater_intercept: Floats
    rater_factor: Floats
    iterations: int


@dataclass(frozen=True, slots=True)
class Scores:
    """What a rescoring decides: per note its intercept, factor, ratings counted and status
    (with hysteresis against `previous`), and each rater's weight in the final fit."""

    note_intercept: Floats
    note_factor: Floats
    ratings_count: Ints
    statuses: list[NoteStatus]
    rater_weight: Floats


def _solve(
    sums: Floats, weight_sum: Floats, target_sum: Floats, mu: float, lambdas: tuple[float, float]
) -> tuple[Floats, Floats]:
    """For every index of one side at once, the (intercept, factor) minimising
    Σ w (v - μ - o_i - i - f·o_f)² + λ_i i² + λ_f f², where o_i, o_f are the other side's
    intercept and factor of each rating. `sums` holds, per index, Σ w·o_f, Σ w·o_f²,
    Σ w·o_i, Σ w·o_f·o_i and Σ w·v·o_f (the sparse products of `fit`); `weight_sum` Σ w and
    `target_sum` Σ w·v."""
    s_x, s_xx, s_oi, s_xoi, s_xv = sums.T
    s_y = target_sum - mu * weight_sum - s_oi
    s_xy = s_xv - mu * s_x - s_xoi
    a, b, d = weight_sum + lambdas[0], s_x, s_xx + lambdas[1]
    det = a * d - b * b
    return (d * s_y - b * s_xy) / det, (a * s_xy - b * s_y) / det


def _products(matrix: Any, valued: Any, intercept: Floats, factor: Floats) -> Floats:
    """Per row of `matrix` (weights) and `valued` (weights x values): Σ w·f, Σ w·f², Σ w·i,
    Σ w·f·i and Σ w·v·f of the other side's intercepts i and factors f (one sparse product)."""
    stacked = np.column_stack([factor, factor * factor, intercept, factor * intercept])
    return np.column_stack([matrix @ stacked, valued @ factor])


def _dot(a: Floats, b: Floats) -> float:
    """Σ a·b, elementwise (a BLAS dot product spins its threads on a busy machine: it took
    50 ms for 100,000 numbers on 2 loaded cores)."""
    return float(np.multiply(a, b).sum())


def _penalty(params: tuple[Floats, Floats], lambdas: tuple[float, float]) -> float:
    """The regularisation term of one side: λ_i Σ i² + λ_f Σ f²."""
    return lambdas[0] * _dot(params[0], params[0]) + lambdas[1] * _dot(params[1], params[1])


def fit(
    ratings: Ratings,
    weight: Floats | None = None,
    *,
    seed: int = 0,
    max_iterations: int = 200,
    tolerance: float = 1e-6,
    start: Fit | None = None,
) -> Fit:
    """Fit the model to the ratings (each weighted by `weight`, default 1) by alternating
    least squares (module docstring), from `start` when given (a warm start), else from
    zero intercepts and small random rater factors."""
    w = np.ones(len(ratings.value)) if weight is None else weight
    v = ratings.value
    n_ratings = max(1.0, float(np.count_nonzero(w)))
    # X's mean-form regularisation, per parameter (module docstring)
    per_note = n_ratings / max(1, ratings.notes)
    per_rater = n_ratings / max(1, ratings.raters)
    note_lambdas = (INTERCEPT_LAMBDA * per_note, FACTOR_LAMBDA * per_note)
    rater_lambdas = (INTERCEPT_LAMBDA * per_rater, FACTOR_LAMBDA * per_rater)
    # the ratings as sparse matrices (notes x raters) of weights and of weighted values
    shape = (ratings.notes, ratings.raters)
    by_note = sparse.csr_matrix((w, (ratings.note, ratings.rater)), shape=shape)
    by_note_v = sparse.csr_matrix((w * v, (ratings.note, ratings.rater)), shape=shape)
    by_rater, by_rater_v = by_note.T.tocsr(), by_note_v.T.tocsr()
    w_note = np.asarray(by_note.sum(axis=1)).ravel()
    w_rater = np.asarray(by_rater.sum(axis=1)).ravel()
    wv_note = np.asarray(by_note_v.sum(axis=1)).ravel()
    wv_rater = np.asarray(by_rater_v.sum(axis=1)).ravel()
    total = float(w.sum()) or 1.0
    wv, wvv = float((w * v).sum()), float((w * v * v).sum())
    if start is None:
        rater_factor = np.random.default_rng(seed).normal(0.0, 0.1, ratings.raters)
        rater_intercept = np.zeros(ratings.raters)
        note_intercept, note_factor = np.zeros(ratings.notes), np.zeros(ratings.notes)
        mu = wv / total
    else:
        mu, rater_intercept, rater_factor = start.mu, start.rater_intercept, start.rater_factor
        note_intercept, note_factor = start.note_intercept, start.note_factor
    iterations, previous_loss = 0, float("inf")
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (read after the loop)
        sums = _products(by_note, by_note_v, rater_intercept, rater_factor)
        note_intercept, note_factor = _solve(sums, w_note, wv_note, mu, note_lambdas)
        sums = _products(by_rater, by_rater_v, note_intercept, note_factor)
        rater_intercept, rater_factor = _solve(sums, w_rater, wv_rater, mu, rater_lambdas)
        f_sum, f2_sum, i_sum, fi_sum, vf_sum = sums.T  # per rater, of the notes' parameters
        # μ: the weighted mean of what the rest leaves, Σ w (v - i_u - i_n - f_u f_n) / Σ w
        rest = _dot(rater_intercept, w_rater) + _dot(note_intercept, w_note)
        mu = (wv - rest - _dot(rater_factor, f_sum)) / total
        # the loss, Σ w (v - p)² with p = μ + i_u + i_n + f_u f_n, from the same sums
        c = mu + rater_intercept
        predicted_v = mu * wv + _dot(rater_intercept, wv_rater) + _dot(note_intercept, wv_note)
        predicted_v += _dot(rater_factor, vf_sum)
        predicted_2 = _dot(c * c, w_rater) + _dot(note_intercept * note_intercept, w_note)
        predicted_2 += _dot(rater_factor * rater_factor, f2_sum) + 2 * _dot(c, i_sum)
        predicted_2 += 2 * _dot(c * rater_factor, f_sum) + 2 * _dot(rater_factor, fi_sum)
        loss = (
            wvv
            - 2 * predicted_v
            + predicted_2
            + _penalty((note_intercept, note_factor), note_lambdas)
            + _penalty((rater_intercept, rater_factor), rater_lambdas)
        )
        if previous_loss - loss <= tolerance * abs(loss):
            break
        previous_loss = loss
    return Fit(float(mu), note_intercept, note_factor, rater_intercept, rater_factor, iterations)


def statuses_of(
    fitted: Fit, counts: Ints, previous: list[NoteStatus | None] | None = None
) -> list[NoteStatus]:
    """Each note's status from a fit (with hysteresis when `previous` is given)."""
    before = previous or [None] * len(counts)
    return [
        settled_status(float(i), float(f), int(c), p)
        for i, f, c, p in zip(
            fitted.note_intercept, fitted.note_factor, counts, before, strict=True
        )
    ]


def rater_weights(ratings: Ratings, statuses: list[NoteStatus]) -> Floats:
    """Each rater's weight from how often they agreed with the decided notes they rated
    (module docstring)."""
    code = np.array(
        [
            1 if s == NoteStatus.HELPFUL else -1 if s == NoteStatus.NOT_HELPFUL else 0
            for s in statuses
        ],
        dtype=np.int64,
    )
    decided = code[ratings.note]
    on_decided = decided != 0
    agrees = ((decided == 1) & (ratings.value > 0.0)) | ((decided == -1) & (ratings.value == 0.0))
    n_decided = np.bincount(
        ratings.rater, weights=on_decided.astype(float), minlength=ratings.raters
    )
    n_agree = np.bincount(ratings.rater, weights=agrees.astype(float), minlength=ratings.raters)
    share = np.divide(n_agree, n_decided, out=np.ones(ratings.raters), where=n_decided > 0)
    judged = n_decided >= MIN_DECIDED_FOR_REPUTATION
    return np.where(judged & (share < MIN_RATER_HELPFULNESS), 0.0, 1.0)


def score(
    ratings: Ratings, previous: list[NoteStatus | None] | None = None, *, seed: int = 0
) -> Scores:
    """The whole rescoring: a first fit, rater weights from its provisional statuses, the
    final fit with those weights, and statuses with hysteresis against `previous`."""
    counts: Ints = np.bincount(ratings.note, minlength=ratings.notes).astype(np.int64)
    first = fit(ratings, seed=seed)
    weights = rater_weights(ratings, statuses_of(first, counts))
    rating_weight = weights[ratings.rater]
    final = fit(ratings, rating_weight, seed=seed, start=first)
    counted: Ints = np.bincount(
        ratings.note, weights=rating_weight, minlength=ratings.notes
    ).astype(np.int64)
    return Scores(
        final.note_intercept,
        final.note_factor,
        counted,
        statuses_of(final, counted, previous),
        weights,
    )
