"""Community Notes scoring at X's scale: 1,000,000 ratings of 50,000 notes by 100,000 raters
(synthetic: two camps of raters, notes that bridge, notes of one camp, poor notes), scored by
`note_scoring.score` (two alternating-least-squares fits and the rater weights), as the hourly
rescoring job does once it has read the ratings.

    python -m bench.notes [--ratings 1000000 --notes 50000 --raters 100000 --seed 0]

Reports the time of the scoring, the ALS iterations, the peak memory numpy allocated during it
(tracemalloc) and the process's peak RSS, and how the notes came out by kind. Targets: ≤ 60 s
and ≤ 2 GB on 2 cores. No data set: nothing is read from a database.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import tracemalloc

import numpy as np

from bench.common import RESULTS_DIR


def synthetic(ratings: int, notes: int, raters: int, seed: int) -> tuple[object, np.ndarray]:
    """Ratings of a two-camp population (vectorised; each rater-note pair at most once)."""
    from agora.social.community_notes.note_scoring import Ratings

    rng = np.random.default_rng(seed)
    camp = rng.choice(np.array([-1, 1]), raters)
    kind = rng.choice(4, notes, p=[0.2, 0.15, 0.15, 0.5])  # bridging, camp A, camp B, poor
    pairs = np.unique(
        rng.integers(0, notes, int(ratings * 1.01), dtype=np.int64) * raters
        + rng.integers(0, raters, int(ratings * 1.01), dtype=np.int64)
    )[:ratings]
    rng.shuffle(pairs)
    note, rater = pairs // raters, pairs % raters
    helpful = np.array([[0.92, 0.92], [0.9, 0.1], [0.1, 0.9], [0.08, 0.08]])
    p = helpful[kind[note], (camp[rater] == -1).astype(np.int64)]
    x = rng.random(len(pairs))
    value = np.where(x < p, 1.0, np.where(x < p + 0.05, 0.5, 0.0))
    return Ratings(rater, note, value, raters, notes), kind


def main() -> None:
    from agora.social.community_notes.note_scoring import score

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ratings", type=int, default=1_000_000)
    p.add_argument("--notes", type=int, default=50_000)
    p.add_argument("--raters", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    ratings, kind = synthetic(args.ratings, args.notes, args.raters, args.seed)
    tracemalloc.start()
    started = time.perf_counter()
    scores = score(ratings, seed=args.seed)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    statuses = np.array([s.value for s in scores.statuses])
    by_kind = {
        name: {s: int((statuses[kind == k] == s).sum()) for s in np.unique(statuses)}
        for k, name in enumerate(("bridging", "camp_a", "camp_b", "poor"))
    }
    result = {
        "benchmark": "notes",
        "metrics": {
            "ratings": len(ratings.value),  # type: ignore[attr-defined]
            "notes": args.notes,
            "raters": args.raters,
            "seconds": round(seconds, 2),
            "peak_traced_mb": round(peak / 2**20, 1),
            "peak_rss_mb": round(rss_mb, 1),
            "statuses_by_kind": by_kind,
            "raters_without_a_say": int((scores.rater_weight == 0).sum()),
            "load": os.getloadavg(),
        },
        "targets_met": {"seconds<=60": seconds <= 60, "rss<=2GB": rss_mb <= 2048},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "notes.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
