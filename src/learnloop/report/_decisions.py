"""The report's plots of a model's decisions, chosen by the output its task needs
(:func:`decision_sections`), never by the task's name.

Classification: confusion matrix, ROC and precision-recall curves (one-vs-rest for several
classes), calibration. Regression: predicted against actual, residuals. Both: permutation
importance of the inputs with 95% intervals (``learnloop.explanations``, which ``learnloop
explain`` shares) on a sample of the rows. Clustering: cluster
sizes, per-cluster profiles and a 2-D PCA projection of the model's inputs.
Recommendation: each evaluated user's score and how much of the catalogue the model
recommends, against the most popular items. Scatter plots
use at most ``plots.MAX_POINTS`` rows drawn at random (seeded), permutation importance
``IMPORTANCE_ROWS`` with fewer shuffles where the model predicts slowly;
curves use every row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from learnloop.data import Schema
    from learnloop.metrics import Metric
    from learnloop.report._doc import Section
    from learnloop.tasks import Part, Task

__all__ = ["decision_sections"]

MAX_CURVE_CLASSES = 8
IMPORTANCE_REPEATS = 5  # shuffles per input, at most
IMPORTANCE_SECONDS = 3.0  # fewer shuffles (at least 2) where the model predicts slowly
IMPORTANCE_ROWS = 1000  # rows shuffled, at most
# left out where even two shuffles of every input would take longer (a 752-input table: 78 s)
IMPORTANCE_MAX_SECONDS = 20.0
MAX_PROFILE_COLUMNS = 8


def _how_many(shown: int, rows: int) -> str:
    """'all 114 of these rows', or '1000 of these 5000 rows'."""
    return f"all {rows} of these rows" if shown == rows else f"{shown} of these {rows} rows"


def _importance(
    task: Task, pipeline: Any, part: Part, schema: Schema, metric: Metric, seed: int
) -> Any:
    """Which inputs the model uses: :func:`learnloop.explanations.permutation_importance`
    (bootstrap shuffles, 95% intervals), with as many shuffles as fit in a few seconds."""
    import time

    from learnloop.explanations import input_of_prepared, permutation_importance
    from learnloop.report import plots
    from learnloop.report._doc import Figure, Section, Text

    rows = plots.sample_rows(len(part), IMPORTANCE_ROWS, seed=seed)
    X, y = part.X.iloc[rows], np.asarray(part.y)[rows]
    n, sign = task.n_outputs(schema), 1.0 if metric.greater_is_better else -1.0

    def scorer(X_: Any, y_: Any) -> float:
        return sign * metric.score(y_, task.predict(pipeline, X_, n), n)

    owners = input_of_prepared(schema)
    groups = {c: [p for p in X.columns if owners.get(p) == c] for c in schema.feature_names}
    started = time.monotonic()
    scorer(X, y)
    per_call = time.monotonic() - started
    section = Section("The model: which inputs it uses")
    least = 2 * per_call * (len(groups) + 1)  # two shuffles of every input
    if least > IMPORTANCE_MAX_SECONDS:
        section.add(
            Text(
                f"Permutation importance is left out: shuffling each of the {len(groups)} "
                f"inputs twice would take about {least:.0f} s ({per_call:.2f} s a prediction).",
                "note",
            )
        )
        return section
    repeats = int(IMPORTANCE_SECONDS / max(per_call * (len(groups) + 1), 1e-9))
    repeats = max(2, min(IMPORTANCE_REPEATS, repeats))
    imp = permutation_importance(
        scorer, X, y, groups, metric=metric.name, repeats=repeats, seed=seed
    ).table.head(20)
    names = [str(c) for c in imp["column"]]
    section.add(
        Figure(
            plots.interval_bars(
                names, imp["mean"], imp["low"], imp["high"], f"drop in {metric.name} when shuffled"
            ),
            f"Permutation importance on {_how_many(len(rows), len(part))} "
            f"({repeats} bootstrap shuffles each; bars are the mean drop, whiskers a 95% "
            "interval for new rows like these). Up to 20 inputs, most important first.",
        ),
        Text(
            f"The model leans most on '{names[0]}'; inputs whose interval covers zero could "
            "be dropped without a loss that these rows can show."
            if names
            else "No inputs."
        ),
    )
    return section


def classification_sections(
    task: Task,
    pipeline: Any,
    part: Part,
    schema: Schema,
    metric: Metric,
    seed: int,
    importance: bool = True,
) -> list[Section]:
    """The decisions (confusion matrix, curves); with ``importance`` which inputs matter
    (pictures have one input, their path: shuffling it says nothing)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_auc_score, roc_curve

    from learnloop.report import plots
    from learnloop.report._doc import Figure, Section, Table

    n = len(schema.classes)
    y = np.asarray(part.y, dtype=int)
    pred = task.predict(pipeline, part.X, n)
    proba = pred.proba
    assert proba is not None
    names = [str(c) for c in schema.classes]
    cm = confusion_matrix(y, pred.values, labels=list(range(n)))
    decisions = Section("The model's decisions")
    decisions.add(
        Figure(
            plots.heatmap(cm, names, names, "predicted class", "true class"),
            f"Confusion matrix on {len(y)} rows: each row is a true class, each column the "
            "class the model chose; the diagonal is right.",
        )
    )
    per_class = []
    for i, c in enumerate(names):
        tp, support, chosen = cm[i, i], cm[i].sum(), cm[:, i].sum()
        per_class.append([c, int(support), tp / chosen if chosen else None,
                          tp / support if support else None])  # fmt: skip
    decisions.add(Table(["class", "rows", "precision", "recall"], per_class))
    shown = [1] if n == 2 else list(range(min(n, MAX_CURVE_CLASSES)))
    roc, pr = [], []
    for i in shown:
        hit = (y == i).astype(int)
        if hit.min() == hit.max():
            continue
        fpr, tpr, _ = roc_curve(hit, proba[:, i])
        auc = roc_auc_score(hit, proba[:, i])
        roc.append((f"{names[i]} (AUC {auc:.3f})", fpr, tpr))
        prec, rec, _ = precision_recall_curve(hit, proba[:, i])
        pr.append((names[i], rec, prec))
    which = "the positive class" if n == 2 else "each class against the rest"
    decisions.add(
        Figure(
            plots.lines(roc, "false positive rate", "true positive rate", diagonal=True),
            f"ROC curve of {which}; the dotted diagonal is guessing.",
        ),  # fmt: skip
        Figure(plots.lines(pr, "recall", "precision"), f"Precision-recall curve of {which}."),
    )
    if n == 2:
        conf, hit = proba[:, 1], y == 1
        what = f"predicted probability of '{names[1]}'"
    else:
        conf, hit = proba.max(axis=1), pred.values == y
        what = "confidence of the chosen class"
    frac, mean = calibration_curve(hit.astype(int), conf, n_bins=10, strategy="quantile")
    decisions.add(
        Figure(
            plots.lines([("model", mean, frac)], what, "observed share", diagonal=True),
            f"Calibration: rows binned by the {what} (10 bins of equal size); a calibrated "
            "model lies on the diagonal.",
        )
    )
    if not importance:
        return [decisions]
    return [decisions, _importance(task, pipeline, part, schema, metric, seed)]


def regression_sections(
    task: Task, pipeline: Any, part: Part, schema: Schema, metric: Metric, seed: int
) -> list[Section]:
    from learnloop.report import plots
    from learnloop.report._doc import Figure, Section, Table

    y = np.asarray(part.y, dtype=float)
    pred = task.predict(pipeline, part.X, 0).values
    rows = plots.sample_rows(len(y), seed=seed)
    resid = y - pred
    sampled = f"{len(rows)} of {len(y)} rows drawn at random" if len(rows) < len(y) else (
        f"all {len(y)} rows")  # fmt: skip
    decisions = Section("The model's decisions")
    decisions.add(
        Figure(
            plots.scatter_groups(
                {"rows": (y[rows], pred[rows])},
                f"actual {schema.target}",
                f"predicted {schema.target}",
                diagonal=True,
            ),  # fmt: skip
            f"Predicted against actual ({sampled}); the dotted line is a perfect model.",
        ),
        Figure(
            plots.scatter_groups(
                {"rows": (pred[rows], resid[rows])},
                "predicted",
                "residual (actual - predicted)",
                hline=0.0,
            ),  # fmt: skip
            f"Residuals against predictions ({sampled}): a pattern means the model misses "
            "something systematic.",
        ),
        Figure(plots.histogram(resid, "residual"), f"Residuals of all {len(y)} rows."),
        Table(
            ["mean residual", "median |residual|", "90% of |residual| below", "largest |residual|"],
            [
                [
                    float(resid.mean()),
                    float(np.median(np.abs(resid))),
                    float(np.quantile(np.abs(resid), 0.9)),
                    float(np.abs(resid).max()),
                ]
            ],  # fmt: skip
        ),
    )
    return [decisions, _importance(task, pipeline, part, schema, metric, seed)]


def clustering_sections(
    task: Task, pipeline: Any, part: Part, schema: Schema, metric: Metric, seed: int
) -> list[Section]:
    from sklearn.decomposition import PCA

    from learnloop.report import plots
    from learnloop.report._doc import Figure, Section, Table, Text

    labels = task.predict(pipeline, part.X, 0).values
    ids, counts = np.unique(labels, return_counts=True)
    names = [("noise" if c < 0 else f"cluster {c}") for c in ids]
    section = Section("The model's clusters")
    section.add(
        Figure(plots.bars(names, counts.tolist(), "rows"), f"Cluster sizes on {len(labels)} rows.")
    )
    numeric = [c.name for c in schema.features if c.kind == "numeric"][:MAX_PROFILE_COLUMNS]
    cats = [c.name for c in schema.features if c.kind == "categorical"][:2]
    frame = part.X.assign(__cluster__=labels)
    rows = []
    for cid, name, count in zip(ids, names, counts, strict=True):
        group = frame[frame["__cluster__"] == cid]
        row: list[Any] = [name, int(count)]
        row += [float(group[c].mean()) for c in numeric]
        row += [str(group[c].mode().iloc[0]) if group[c].notna().any() else "-" for c in cats]
        rows.append(row)
    overall: list[Any] = ["all rows", len(labels)] + [float(part.X[c].mean()) for c in numeric]
    overall += [str(part.X[c].mode().iloc[0]) if part.X[c].notna().any() else "-" for c in cats]
    section.add(
        Table(
            ["cluster", "rows"]
            + [f"mean {c}" for c in numeric]
            + [f"most common {c}" for c in cats],
            rows + [overall],  # fmt: skip
            "Profiles: each cluster's mean of the numeric inputs (and most common category).",
        ),
    )
    Z = np.asarray(pipeline[:-1].transform(part.X), dtype=float)
    if Z.shape[1] >= 2:
        pca = PCA(n_components=2, random_state=seed).fit(Z)
        sample = plots.sample_rows(len(Z), seed=seed)
        P = pca.transform(Z[sample])
        groups = {n: (P[labels[sample] == c, 0], P[labels[sample] == c, 1])
                  for c, n in zip(ids, names, strict=True)}  # fmt: skip
        share = pca.explained_variance_ratio_
        section.add(
            Figure(
                plots.scatter_groups(
                    groups, f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%})"
                ),  # fmt: skip
                f"The rows projected on the two principal components of the model's inputs "
                f"({len(sample)} of {len(Z)} rows drawn at random), coloured by cluster.",
            )
        )
    else:
        section.add(Text("One input dimension: no 2-D projection.", "note"))
    if part.y is not None and np.ndim(part.y) == 1 and schema.labels:
        y = np.asarray(part.y)
        known = [str(c) for c in schema.classes]
        table = pd.crosstab(pd.Series(labels, name="cluster"), pd.Series(y, name="group"))
        body = [[names[list(ids).index(c)]] + [int(table.loc[c].get(g, 0))
                for g in range(len(known))] for c in table.index]  # fmt: skip
        section.add(Table(["cluster"] + known, body, f"Clusters against the known groups "
                          f"of '{schema.labels}'."))  # fmt: skip
    return [section]


def recommendation_sections(
    task: Task, pipeline: Any, part: Part, schema: Schema, metric: Metric, seed: int
) -> list[Section]:
    """Each evaluated user's score and how much of the catalogue the model recommends."""
    from learnloop.metrics import ranking_per_user
    from learnloop.report import plots
    from learnloop.report._doc import Figure, Section, Table

    assert part.y is not None
    k = int(metric.k or 10)
    pred = task.predict(pipeline, part.X, k)
    scores = ranking_per_user(metric.name.partition("@")[0], part.y, pred, k)
    shown = {str(v) for row in np.asarray(pred.values) for v in row if v is not None}
    n_items = len(pipeline.steps[-1][1].items_)
    section = Section("The model's recommendations")
    section.add(
        Table(
            [
                "users",
                f"mean {metric.name}",
                f"users with {metric.name} > 0",
                "distinct items recommended",
            ],
            [
                [
                    len(scores),
                    float(scores.mean()) if len(scores) else None,
                    f"{np.mean(scores > 0):.0%}" if len(scores) else "-",
                    f"{len(shown)} of {n_items} ({len(shown) / max(n_items, 1):.0%})",
                ]
            ],
            f"The top {k} for each evaluated user of this split (items the user had in "
            "training left out); the share of the catalogue the lists cover.",
        )  # fmt: skip
    )
    if len(scores):
        section.add(
            Figure(
                plots.histogram(scores.tolist(), f"{metric.name} per user", bins=20),
                f"Each evaluated user's {metric.name} ({len(scores)} users).",
            )
        )
    return [section]


def decision_sections(
    task: Task, pipeline: Any, part: Part, schema: Schema, metric: Metric, seed: int
) -> list[Section]:
    """Sections of a saved pipeline's decisions on ``part`` (rows it never learned from: the
    validation split, the test split after its look for a model refitted on training +
    validation rows, or a table given with ``--data``), by what the task's models produce."""
    from learnloop.core import Output

    if task.output is Output.CLASSES:
        importance = task.inputs_are_columns
        return classification_sections(task, pipeline, part, schema, metric, seed, importance)
    builders = {
        Output.VALUES: regression_sections,
        Output.CLUSTERS: clustering_sections,
        Output.RANKINGS: recommendation_sections,
    }
    return builders[task.output](task, pipeline, part, schema, metric, seed)
