"""The top candidates compared on rows the saved model never saw, with intervals and
paired tests.

Models of the trials the run did not choose are not stored. The report refits the best
configuration of each of the next best model families (by recorded validation score)
the way the search fits one (same family, parameters, sample size and seed, on the
rebuilt training split, stopped by the same monitor rules without a threshold) and
compares them with the saved model on the rows of ``ReportInputs.part``: the validation
split, or the test split (after the certificate's look) where the saved model was refitted
on training + validation rows.
"""

from __future__ import annotations

import json
import os
from typing import Any

from learnloop.report._doc import Section, Table, Text
from learnloop.report._inputs import ReportInputs
from learnloop.report.stats import compare_on_split, metric_interval, reading, row_losses

__all__ = ["candidates_section", "TOP_OTHERS", "REFIT_SECONDS"]

TOP_OTHERS = 2  # configurations refitted besides the saved model
REFIT_SECONDS = 20.0  # each refit is stopped after this long
_HOW = (
    "Models of the trials the run did not choose are not stored: the best configuration of "
    "each of the next best model families is refitted here the way the search fitted it (same "
    "family, parameters, sample size and seed, on the training split) and compared with the "
    "saved model on the same rows."
)
_AFTER_THE_LOOK = (
    " The saved model's score here is its certified test score; a model chosen from this "
    "table would carry no certificate, since its choice would have seen these rows."
)


def _others(inputs: ReportInputs, chosen: tuple[str, str]) -> list[dict[str, Any]]:
    metric = inputs.dataset.metric  # type: ignore[union-attr]
    done = [t for t in inputs.trials if t["score"] is not None and t["candidate"]]
    done.sort(key=lambda t: t["score"], reverse=metric.greater_is_better)
    families, out = {chosen[0]}, []
    for t in done:
        key = (t["candidate"], json.dumps(t["params"], sort_keys=True, default=str))
        if key == chosen or t["candidate"] in families:
            continue
        families.add(t["candidate"])
        out.append(t)
        if len(out) == TOP_OTHERS:
            break
    return out


def _refit(inputs: ReportInputs, trials: list[dict[str, Any]], part: Any) -> list[tuple[dict, Any]]:
    from learnloop.runs.train import problem_of
    from learnloop.search.fit import fit_configuration
    from learnloop.search.values import predict_model

    ds = inputs.dataset
    assert ds is not None
    seed = int(((inputs.run or {}).get("options") or {}).get("seed") or 0)
    problem, n_jobs = problem_of(ds, seed), os.cpu_count() or 1
    out = []
    for t in trials:
        fitted = fit_configuration(problem, t["candidate"], t["params"], t["n_rows"],
                                   seconds=REFIT_SECONDS, n_jobs=n_jobs)  # fmt: skip
        model = fitted.model
        if model is not None:
            pred = predict_model(model, part.X, ds.task, ds.n_outputs)
            out.append((t, pred))
    return out


def candidates_section(inputs: ReportInputs) -> Section:
    section = Section(f"Statistics: the top candidates on the {inputs.split or 'validation'} split")
    ds, model = inputs.dataset, inputs.model
    if ds is None or model is None or not inputs.trials or inputs.part is None:
        section.add(Text("Comparing candidates needs the run's trials, its model file and its "
                         "data; see the notes.", "note"))  # fmt: skip
        return section
    section.add(Text(inputs.rows_note, "note"), Text(_HOW, "note"))
    meta = model.metadata
    chosen_key = (str(meta.get("candidate")), json.dumps(meta.get("params") or {}, sort_keys=True,
                                                    default=str))  # fmt: skip
    val, metric, n = inputs.part, ds.metric, ds.n_outputs
    assert val.y is not None
    names = [f"saved model ({meta.get('candidate')})"]
    preds = [ds.task.predict(model.pipeline, val.X, n)]
    recorded: list[Any] = [meta.get("validation_score")]
    learned: list[Any] = [meta.get("n_train_rows")]
    for t, pred in _refit(inputs, _others(inputs, chosen_key), val):
        names.append(f"trial {t['number']} ({t['candidate']})")
        preds.append(pred)
        recorded.append(t["score"])
        learned.append(t.get("n_rows"))
    rows = []
    for name, pred, rec, fit_rows in zip(names, preds, recorded, learned, strict=True):
        score = metric.score(val.y, pred, n)
        ci = metric_interval(metric, val.y, pred, n)
        rows.append([name, fit_rows, rec, score,
                     "-" if ci is None else f"[{ci[0]:.4g}, {ci[1]:.4g}]"])  # fmt: skip
    section.add(Table(["model", "rows learned from", "validation score recorded",
                       f"{metric.name} on these rows",
                       "95% interval"], rows,  # fmt: skip
                      f"On the {len(val)} rows of the {inputs.split} split."
                      + (_AFTER_THE_LOOK if inputs.split == "test" else "")))  # fmt: skip
    if len(names) < 2:
        section.add(Text("Only one configuration finished: nothing to compare.", "note"))
        return section
    outcomes = [ds.task.outcomes(val, p) for p in preds]
    if outcomes[0]["kind"] not in ("labels", "values", "scores"):
        section.add(Text("These models' decisions are not compared row by row "
                         f"({outcomes[0]['kind']}).", "note"))  # fmt: skip
        return section
    tests = compare_on_split(names, outcomes)
    losses = {nm: float(row_losses(o).mean()) for nm, o in zip(names, outcomes, strict=True)}
    if tests["omnibus"]:
        o = tests["omnibus"]
        section.add(Text(
            f"Friedman's test over all {len(names)} models on per-row losses: p = "
            f"{o['p_value']:.3g}. " + ("At least one model differs from the others."
                                       if o["p_value"] < 0.05 else
                                       "No evidence that any model differs.")))  # fmt: skip
    rows = []
    for p in tests["pairs"]:
        a, b = p["runs"]
        better = min((a, b), key=lambda m: losses[m]) if p["p_value"] is not None else None
        rows.append([f"{a} vs {b}", f"{p['name']} ({p.get('variant', '')})", p["p_value"],
                     p.get("p_holm"), reading(p.get("p_holm"), a, b, better)])  # fmt: skip
    section.add(Table(["pair", "test", "p", "p (Holm)", "reading"], rows,
                      f"Paired tests on the same {inputs.split} rows; Holm's correction for "
                      "testing several pairs."))  # fmt: skip
    return section
