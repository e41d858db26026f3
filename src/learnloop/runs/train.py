"""``learnloop.runs.train``: data -> loop -> certificate -> model file -> store, in one call."""

from __future__ import annotations

import importlib
import math
import os
import pickle
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from learnloop.certify import MAX_LOOKS, Certificate, LookPolicy, certify
from learnloop.core.settings import DEFAULT_BUDGET_S, RunSettings
from learnloop.data import ENCODING
from learnloop.data.drift import reference_profile
from learnloop.data.tables import as_table
from learnloop.exceptions import StoreFull, StoreUnavailable, UsageError
from learnloop.metrics import Metric, get_metric
from learnloop.runs.dataset import Dataset, dataset_for
from learnloop.runs.looks import (
    LookSchedule,
    certificate_record,
    no_look_left_message,
    resumed_message,
)
from learnloop.runs.progress import reporter_for
from learnloop.runs.result import Result
from learnloop.runs.stopping import stop_on_signals
from learnloop.search import Aim, FittedModel, Hooks, Problem, Search, predict_model
from learnloop.search.finalist import CV_FOLDS, REFIT_RESERVE_SHARE, refit_for_look, refit_reserve
from learnloop.search.selection import (
    FirstGuess,
    Selection,
    pick,
    prefer_first_guess,
    selection_seconds,
)
from learnloop.search.trials import TrialRecord
from learnloop.store import open_store
from learnloop.store.model_files import LoadedModel, check_model_path, library_versions, save_model

__all__ = ["train", "Reporter", "DEFAULT_BUDGET_S", "DEFAULT_MODEL_PATH", "MAX_LOOKS"]

DEFAULT_MODEL_PATH = "learnloop-model.skops"
# What the end of a run costs besides predicting the test rows and writing the model: the
# certificate, the per-row outcomes, the store's last writes, the process's exit.
FINISH_FIXED_S = 1.0
# Seconds the model writer takes per MB of the model's pickled size: skops walks the objects
# in Python, so a large forest's file is a finishing cost of its own (measured on a 2-core
# machine under load: 0.04 s/MB for a 64 MB ensemble with 256 extra trees, 0.06 for 64 extra
# trees, up to 0.2 for small models of many objects, which the fixed part covers).
SAVE_S_PER_MB = 0.08
# Validation rows a new best model predicts to time its test predictions: enough that the
# per-call cost (preprocessing a frame, ~4 ms) does not pass for a per-row one.
PROBE_ROWS = 2000
SELECT_SHARE = 0.1  # the share of the budget kept for a cross-validated choice of model


class Reporter(Protocol):
    """Receives progress events: the command line's display, or the one ``progress`` picks
    (runs/progress.py ``reporter_for``)."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_trial(self, record: TrialRecord, loop: Search) -> None: ...
    def on_look(self, cert: Certificate) -> None: ...
    def on_message(self, text: str) -> None: ...


def train(  # noqa: PLR0913 -- the Python front door: one keyword per CLI option
    data: Any,
    target: str | None = None,
    *,
    task: str = "auto",
    metric: str | None = None,
    threshold: float | None = None,
    budget: float | None = None,
    confidence: float | None = None,
    seed: int | None = None,
    out: str | Path | None = DEFAULT_MODEL_PATH,
    store: str | None = None,
    validation: Any = None,
    test: Any = None,
    labels: str | None = None,
    candidates: list[str] | None = None,
    n_jobs: int | None = None,
    reporter: Reporter | None = None,
    progress: bool | str = "auto",
    command: str | None = None,
    resume: str | None = None,
    cluster: str | None = None,
    encoding: str | None = None,
    **options: Any,
) -> Result:
    """Train until ``metric`` passes ``threshold`` on validation and is certified on test.

    Runs decision -> error -> optimize until a model's validation score passes the
    threshold plus the certificate's margin, then scores it once on the held-out test
    split with a one-sided bound at ``confidence``. Without a threshold, searches for the
    whole ``budget`` (seconds) and certifies the best model. Without a ``target`` (or with
    ``task="clustering"``) the rows are grouped into clusters; ``labels`` names a column
    of known groups to score them against. Pass ``validation`` and ``test`` tables to use
    fixed splits instead of the seeded random ones. ``resume`` (a run id) continues a run
    that was killed, keeping the trials it finished. ``cluster`` (``tcp://HOST:8786`` or
    ``local[:N]``) trains the trials on a Dask cluster; this process stays the run's owner.
    The budget bounds the whole call: the search stops early enough to finish within it
    (default ``DEFAULT_BUDGET_S``; ``confidence`` 0.95 and ``seed`` 0 by default).
    ``encoding`` is that of a CSV or TSV file (default: the ``--encoding`` of the command,
    else UTF-8, else detected); it is recorded with the run.

    With ``resume``, the options given must be the run's recorded ones (UsageError naming
    each that differs; left out, they are the recorded ones), but ``budget``, which bounds
    the resumed session; the data must be the run's (its fingerprint is checked first).

    ``data``, ``validation`` and ``test`` are each a file path, a pandas or polars
    DataFrame, a pyarrow Table or a 2-D numpy array (its columns named ``x0``, ``x1``, ...);
    anything else is a TypeError that names its type.

    ``progress`` is what the call shows while it runs: ``"auto"`` (default) a progress
    block in a Jupyter notebook and a live panel where stderr is a terminal, nothing
    elsewhere (scripts, tests, pipelines); ``True`` also plain lines on a stderr that is not
    a terminal; ``False`` nothing. A ``reporter`` given receives the events instead (the
    command line's display).

    ``options`` are the task's own: ``task="recommendation"`` takes ``user`` and ``item``
    (columns, required), ``time``, ``event``, ``weight``, ``event_weights`` and
    ``like_threshold``.
    """
    wall_start = time.monotonic()
    data_name = _source_name(data)
    data, validation, test = (None if t is None else as_table(t) for t in (data, validation, test))
    shown = reporter_for(progress) if reporter is None else None  # this call's own display
    report: Reporter = reporter if reporter is not None else shown  # type: ignore[assignment]
    # a new run's data is checked before the store is opened, so bad input leaves no new file
    store_obj = open_store(store) if resume is not None else None
    if store_obj is not None and resume is not None:
        resume = store_obj.resolve_run_id(resume)  # a run's first characters will do
    asked: dict[str, Any] = {
        "target": target,
        "task": task,
        "metric": get_metric(metric).name if metric is not None else None,  # fails early
        "threshold": threshold,
        "budget": budget,
        "confidence": confidence,
        "seed": seed,
        "labels": labels,
        "candidates": candidates,
        "task_options": options,
        "validation": _source_path(validation),
        "test": _source_path(test),
        "encoding": encoding if encoding is not None else ENCODING.get(),
    }
    run_fingerprint = None
    if resume is not None:  # the settings the run was recorded with
        assert store_obj is not None
        from learnloop.store.experiments import resume_options

        recorded_settings = RunSettings.from_record(
            resume_options(store_obj, resume, data, validation, test)
        )
        settings = recorded_settings.resumed_with(asked)
        run_fingerprint = store_obj.get_run(resume)["fingerprint"]
        _check_a_look_is_left(store_obj, resume, settings)
    else:
        given = {k: v for k, v in asked.items() if v is not None}
        settings = RunSettings(**given, data=_source_path(data))
    if settings.metric is not None:
        get_metric(settings.metric)  # unknown names fail before any data is read
    out_path = _check_out(out)

    dataset = dataset_for(data, settings, validation, test, run_fingerprint=run_fingerprint)
    _check_candidates(settings.candidates, dataset)
    schema = dataset.schema
    settings = replace(  # what the data decided: the run's record rebuilds the same split
        settings,
        target=schema.target,
        labels=schema.labels,
        task=dataset.task.name,
        metric=dataset.metric.name,
        test_share=dataset.test_share,
    )
    n_jobs = n_jobs or os.cpu_count() or 1
    data_fingerprint = dataset.fingerprint()  # hashes every value: compute it once

    from learnloop.search.executors import open_executor

    executor = open_executor(cluster)  # a wrong scheduler fails here, before any run row
    if store_obj is None:
        store_obj = open_store(store)
    _say_what_was_read(dataset, report)  # after the last check: an error is the only line
    if resume is not None:
        from learnloop.store.experiments import reopen_run

        run_id = reopen_run(store_obj, resume, data_fingerprint, report.on_message)
        if settings.budget != recorded_settings.budget:  # the one option a resume may change
            store_obj.update_run(run_id, budget_s=settings.budget, options=settings.to_record())
            report.on_message(
                f"This session's budget is {settings.budget:g} s (the run recorded "
                f"{recorded_settings.budget:g} s)."
            )
    else:
        run_id = store_obj.create_run(
            task=dataset.task.name,
            metric=dataset.metric.name,
            threshold=settings.threshold,
            budget_s=settings.budget,
            seed=settings.seed,
            confidence=settings.confidence,
            data=data_name,
            fingerprint=data_fingerprint,
            command=command,
            versions=library_versions(),
            options=settings.to_record(),
        )
    if executor is not None:
        executor.run_id = run_id
    try:
        result = _search_and_certify(
            dataset,
            settings,
            store_obj.study(run_id, _sampler(settings.seed)),
            n_jobs=n_jobs,
            report=report,
            wall_start=wall_start,
            run_id=run_id,
            out_path=out_path,
            fingerprint_=data_fingerprint,
            store=store_obj,
            executor=executor,
        )
        recorded = "interrupted" if result.interrupted else result.status
        store_obj.finish_run(
            run_id, recorded, result=result.to_dict(), model_path=result.model_path
        )
    except (StoreFull, StoreUnavailable) as e:  # nothing can be recorded: say how to go on
        from learnloop.store.experiments import store_interrupted

        ago = time.monotonic() - wall_start
        raise store_interrupted(e, run_id, command, out_path, ago) from e
    except BaseException as e:
        store_obj.finish_run(run_id, "failed", result={"error": f"{type(e).__name__}: {e}"})
        raise
    finally:
        if executor is not None:
            executor.close()
        if shown is not None:  # the display this call made ends with it
            shown.close()
    return result


def _check_a_look_is_left(store: Any, run_id: str, settings: RunSettings) -> None:
    """UsageError (one line) if the run to resume has spent its test looks or already met:
    a resumed run continues the run's look schedule, it never starts it again."""
    recorded = store.looks(run_id)
    if not recorded or settings.metric is None:
        return
    policy = LookPolicy(settings.confidence, settings.threshold, get_metric(settings.metric))
    schedule = LookSchedule(policy, recorded)
    if not schedule.left:
        raise UsageError(no_look_left_message(run_id, schedule, policy.alpha))


def _check_candidates(candidates: list[str] | None, dataset: Dataset) -> None:
    """Every family asked for exists and serves the data set's task."""
    if not candidates:
        return
    from learnloop.families import CANDIDATES, families_for

    task = dataset.task
    serving = [c.name for c in families_for(task)]
    for name in candidates:
        if name not in CANDIDATES:
            raise UsageError(f"Unknown candidate '{name}'; choose from {', '.join(serving)}.")
        if not CANDIDATES[name].serves(task):
            raise UsageError(
                f"The candidate '{name}' does not learn {task.name}; choose from "
                f"{', '.join(serving)}."
            )


def _say_what_was_read(dataset: Dataset, report: Reporter) -> None:
    schema = dataset.schema
    delimiter = dataset.frame.attrs.get("delimiter")
    if delimiter is not None and delimiter != ",":
        shown = {"\t": "tab", ";": "semicolon", "|": "bar"}.get(delimiter, repr(delimiter))
        report.on_message(f"Read the CSV file with a {shown} ({delimiter!r}) as the delimiter.")
    for note in dataset.notes:
        report.on_message(note)
    if dataset.dropped_rows and schema.target is not None:
        report.on_message(
            f"{dataset.dropped_rows} rows with no value in '{schema.target}' were left out."
        )
    text = [f"'{c.name}'" for c in schema.features if c.kind == "text"]
    if text:
        report.on_message(
            f"Read {', '.join(text)} as free text (many distinct values of several words): "
            "encoded by TF-IDF of character n-grams and an SVD."
        )
    for name, reason in schema.dropped.items():
        report.on_message(f"Column '{name}' is not used: {reason}.")
    for note in dataset.frame.attrs.get("notes", []):
        report.on_message(note)


def _source_name(source: Any) -> str | None:
    """The data's name in the store: its path, or the kind of in-memory table it was."""
    if isinstance(source, pd.DataFrame):
        return "<DataFrame>"
    if source is None or isinstance(source, str | os.PathLike):
        return None if source is None else str(source)
    kind = type(source)
    return f"<{kind.__module__.split('.')[0]}.{kind.__qualname__}>"


def _source_path(source: Any) -> str | None:
    """An absolute path a worker on this machine can read again (None for a DataFrame)."""
    if source is None or isinstance(source, pd.DataFrame):
        return None
    text = str(source)
    return str(Path(text).resolve()) if "://" not in text and Path(text).exists() else text


def _sampler(seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=5
        )


def _check_out(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    check_model_path(out)  # a folder that is missing, read-only or full fails before training
    return Path(out)


def _search_and_certify(  # noqa: C901, PLR0913 -- to be cut into the look policy's parts
    dataset: Dataset,
    settings: RunSettings,
    study: optuna.Study,
    *,
    n_jobs: int,
    report: Reporter,
    wall_start: float,
    run_id: str,
    out_path: Path | None,
    fingerprint_: str,
    store: Any = None,
    executor: Any = None,
) -> Result:
    """Search until the aim is passed, spend test looks by the policy, save and record."""
    task, metric, threshold = dataset.task, dataset.metric, settings.threshold
    test = dataset.test
    n_out = dataset.n_outputs
    policy = LookPolicy(settings.confidence, threshold, metric)
    # the looks earlier sessions of this run made: the schedule goes on from them
    schedule = LookSchedule(policy, store.looks(run_id) if store is not None else [])
    first = schedule.next_look
    problem = problem_of(dataset, settings.seed)
    baseline = _baseline_model(dataset, settings.seed)
    baseline_test = predict_model(baseline, test.X, task, n_out)
    if out_path is not None:
        # the model writer's import (skops reads scikit-learn's modules: 1-4 s on a loaded
        # 2-core machine) is spent before the search, so that the search's deadline knows it
        importlib.import_module("skops.io")
    # the budget bounds the whole run, not just the search: the search stops early enough to
    # finish with its best model (predict the test rows, certify, write the model file), and
    # a little of the budget is kept besides
    slack = min(0.05 * settings.budget, 5.0)
    end = wall_start + settings.budget
    deadline = end - slack
    hooks = Hooks(
        on_trial=report.on_trial,
        # finishing includes the cross-validated choice where the validation split is tiny
        # (a tenth of the budget or 2 s at most: the finalists are scored best first, in time)
        finish_seconds=lambda model: (
            max(0.0, finish_seconds(model, problem) - slack)
            + min(selection_seconds(problem, model), max(SELECT_SHARE * settings.budget, 2.0))
            # with no threshold the one look comes after the search: keep the time to refit
            # the best model on training + validation rows before it
            + (
                refit_reserve(problem, model, REFIT_RESERVE_SHARE * settings.budget)
                if threshold is None
                else 0.0
            )
        ),
    )
    if store is not None:  # workers may join the run: named configurations are claimed
        hooks.claim = lambda key, worker: bool(store.claim(run_id, key, worker))
    loop = Search(
        problem,
        study,
        Aim(metric, threshold, policy.alpha_at(first)),
        candidates=settings.candidates,
        n_jobs=n_jobs,
        executor=executor,
        hooks=hooks,
    )
    report.on_start(
        {
            "run_id": run_id,
            "task": task.name,
            "metric": metric.name,
            "threshold": threshold,
            "budget": settings.budget,
            "rows": dataset.sizes,
            "classes": n_out,
            "baseline_score": _baseline_score(dataset, baseline_test, None, settings.seed),
        }
    )
    if schedule.made:
        report.on_message(resumed_message(schedule))
    loop.aim.first_pass_look = schedule.first_pass_look  # the run's first look only
    if schedule.first_pass_look:  # a first look short of the aim may spend a share planned for it
        loop.aim.alpha_early = policy.early_alpha
    if not policy.certifiable(first, len(test)):
        ceiling = policy.ceiling(first, len(test))
        report.on_message(
            f"With {len(test)} test rows even a perfect score certifies {metric.name} of at "
            f"most {ceiling:.4f}, below the threshold {threshold:g}; the run cannot end 'met' — "
            "use more data or a lower threshold. Searching the budget for the best model."
        )
        loop.search_to_budget()
        if not schedule.made:
            # known from the sizes alone, before any look: the one look left spends all of
            # alpha, so its bound is at the confidence asked for
            policy.planned = 1
    looks: list[tuple[FittedModel, Certificate]] = []
    looked_predictions: dict[int, Any] = {}  # id(model) -> its test predictions, made once

    def look(model: FittedModel) -> Certificate:
        if model is loop.early_look and not schedule.made:
            policy.plan_early_look()  # before the look is recorded: its alpha is the plan's
        # a refit must leave the time to finish with it (its predictions, the model file)
        refitted = refit_for_look(problem, model, n_jobs, end - finish_seconds(model, problem))
        if refitted is not model:
            what = (
                f"the ensemble's {len(model.members)} members"
                if model.members is not None
                else f"the {model.candidate} configuration"
            )
            report.on_message(
                f"Refitted {what} on training + validation rows ({refitted.n_rows} rows) "
                "for the test look."
            )
            model = refitted
        number = schedule.next_look
        spent = _begin_look(schedule, store, run_id, model, number)
        pred = predict_model(model, test.X, task, n_out)
        assert test.y is not None
        cert = certify(
            metric,
            test.y,
            pred,
            n_out,
            threshold,
            settings.confidence,
            look=number,
            planned_looks=policy.planned,
            seed=settings.seed,
        )
        # the period it covers, as the run's result says it (None for a random split)
        spent["certificate"] = certificate_record(cert) | {"test_period": dataset.test_period}
        if store is not None:  # kept beside every other look's, never overwritten
            store.end_look(run_id, number, spent["certificate"])
        looks.append((model, cert))
        looked_predictions[id(model)] = pred
        report.on_look(cert)
        return cert

    selections: list[Selection | FirstGuess] = []

    def select(model: FittedModel) -> FittedModel:
        # no model passed the aim and the validation split is tiny: the last look goes to
        # the finalist the cross-validation prefers (a model past the aim keeps its look)
        # the time the search kept for it: before finishing (as the hook above reserves)
        until = end - slack - max(0.0, finish_seconds(model, problem) - slack)
        chosen: Selection | FirstGuess | None = pick(problem, loop.trials, model, n_jobs, until)
        if chosen is None:  # the task's first guess, unless beaten beyond the noise
            scored = sum(t.status == "complete" and t.score is not None for t in loop.trials)
            chosen = prefer_first_guess(problem, model, loop.first_guess, scored)
        if chosen is None:
            return model
        report.on_message(chosen.describe(problem))
        selections.append(chosen)
        return chosen.model

    def on_stop(name: str) -> None:
        report.on_message(
            f"{name}: ending the search; the best model so far gets its test look and is "
            "saved (send it again to abort at once)."
        )

    with stop_on_signals(on_stop) as stop:
        hooks.should_stop = stop
        while True:
            hit = loop.run(deadline)
            if hit is None:
                break
            _say_why_look(loop, hit, report)
            cert = look(hit)
            if cert.met or not schedule.left or stop.requested:
                break
            if not policy.certifiable(schedule.next_look, len(test)):
                loop.search_to_budget()  # no look left could certify it: no more looks
                continue
            assert threshold is not None
            if hit is loop.early_look:  # a side bet: the aim stays for the looks to come
                loop.after_early_look(hit.score, policy.alpha_at(schedule.next_look))
                continue
            # aim further past the threshold by what the bound fell short
            loop.raise_target(abs(cert.test_bound - threshold), looked_score=hit.score)
    met_look = next((lc for lc in looks if lc[1].met), None)
    if met_look is None:
        best = loop.best_model()
        best = select(best) if best is not None else baseline
        looked = {m.trial for m, _ in looks}
        if best.trial not in looked and schedule.left:
            look(best)
        if not looks:
            look(baseline)
        chosen, cert = _best_looked(looks, metric)
    else:
        chosen, cert = met_look
    chosen_test = looked_predictions[id(chosen)]  # the look's own predictions, not made again
    baseline_score = _baseline_score(dataset, baseline_test, chosen_test, settings.seed)
    learned = chosen is not baseline
    if not learned:
        _say_why_nothing_learned(loop, report)
    status = "met" if learned and (threshold is None or cert.met) else "not_met"
    pipeline = Pipeline([("features", chosen.preprocessor), ("model", chosen.estimator)])
    pipeline, details = task.finish_model(pipeline, dataset.train, dataset.validation)
    params = {k: _plain(v) for k, v in chosen.params.items()}
    metadata = {
        "run_id": run_id,
        "schema": dataset.schema.to_dict(),
        "task": task.name,
        "metric": metric.name,
        "threshold": threshold,
        "status": status,
        "certificate": cert.to_dict(),
        "test_period": dataset.test_period,  # None for a random split
        "baseline_score": _num(baseline_score),
        "validation_score": _num(chosen.score),
        "aim": _num(loop.target),
        "candidate": chosen.candidate,
        "params": params,
        "n_train_rows": int(chosen.n_rows),
        "refit_on_validation": chosen.refit,
        **({"selection": selections[-1].to_dict()} if selections else {}),
        "data_fingerprint": fingerprint_,
        "settings": settings.to_record(),  # what `learnloop retrain` runs the loop with again
        "versions": library_versions(),
        "created_unix": time.time(),
        **({"task_details": details} if details else {}),
        # each input column's training distribution, for `learnloop monitor`'s drift
        "reference": reference_profile(dataset.train.X, dataset.schema)
        if task.inputs_are_columns
        else {},
    }
    if out_path is not None:
        save_model(out_path, pipeline, metadata)
    if store is not None:
        store.update_run(run_id, outcomes=task.outcomes(test, chosen_test))
    return Result(
        status=status,
        task=task.name,
        metric=metric.name,
        threshold=threshold,
        validation_score=_num(chosen.score),
        test_score=_num(cert.test_score),
        test_bound=_num(cert.test_bound),
        confidence=settings.confidence,
        baseline_score=_num(baseline_score),
        model_path=str(out_path.resolve()) if out_path is not None else None,
        run_id=run_id,
        elapsed_s=time.monotonic() - wall_start,
        time_to_threshold_s=loop.time_to_threshold,
        certificate=cert,
        model=LoadedModel(pipeline, metadata),
        best_candidate=chosen.candidate,
        best_params=params,
        aim=loop.target,
        target=dataset.schema.target,
        splits=dataset.sizes,
        dropped_columns=dict(dataset.schema.dropped),
        trials=loop.trials,
        interrupted=stop.requested,
        refit=chosen.refit,
        test_period=dataset.test_period,
        looks=schedule.certificates(),
        unreadable_cells=dict(dataset.schema.unreadable),
        store_url=store.url if store is not None else None,
    )


def _begin_look(
    schedule: LookSchedule, store: Any, run_id: str, model: FittedModel, number: int
) -> dict[str, Any]:
    """Record look ``number`` and the alpha it spends before the test split is read (a look
    killed half-way still counts); its record, for the certificate to come."""
    alpha = schedule.policy.alpha_at(number)
    looked_at = {"trial": model.trial, "candidate": model.candidate, "refit": model.refit}
    if store is not None:
        store.begin_look(run_id, number, schedule.policy.planned, alpha, looked_at)
    return schedule.add(number, alpha, looked_at)


def finish_seconds(model: FittedModel, problem: Problem) -> float:
    """Seconds the run will need after the search to finish with ``model``: its predictions
    on the test rows (timed on a few validation rows), writing its file (by its size) and
    the fixed cost of the end."""
    X = problem.X_val.iloc[:PROBE_ROWS]
    started = time.perf_counter()
    predict_model(model, X, problem.task, problem.n_classes)
    per_row = (time.perf_counter() - started) / max(len(X), 1)
    size_mb = len(pickle.dumps((model.preprocessor, model.estimator), protocol=5)) / 1e6
    return FINISH_FIXED_S + per_row * problem.n_test + SAVE_S_PER_MB * size_mb


def _say_why_nothing_learned(loop: Search, report: Reporter) -> None:
    """Only the trivial model is left: say why, with the first failure if trials failed."""
    failed = [t for t in loop.trials if t.status == "failed"]
    if failed:
        report.on_message(
            f"All {len(failed)} trials failed (the first with {failed[0].error}); only the "
            "trivial model is saved."
        )
    else:
        report.on_message("No trial finished within the budget; only the trivial model is saved.")


def _say_why_look(loop: Search, hit: FittedModel, report: Reporter) -> None:
    """Name what sent ``hit`` to a look when the aim did not: the cross-validated estimate,
    the held-out rows of its sample, or its being the first model past the threshold."""
    if loop.aim.passed(hit.score, len(loop.trials)):
        return
    advice = loop.advisor.advice[-1] if loop.advisor.advice else None
    if advice is None or advice.trial != hit.trial:
        said = loop.look_call
        why = ""
        if said is not None and said.trial == hit.trial and said.look:
            why = (
                f": a {said.chance:.0%} chance that a test look passes at alpha "
                f"{said.early_alpha:.3g}, the share planned for a first look short of the aim"
                if said.early_alpha is not None
                else f": a {said.chance:.0%} chance that a test look passes, and the aim "
                f"would take about {said.wait_s:.3g} s of the {said.left_s:.3g} s left"
            )
        report.on_message(
            f"The best model past the threshold on validation ({hit.score:.4f}, short of "
            f"the aim){why}: the run's first test look goes to it now."
        )
        return
    est = advice.estimate
    where = (
        f"score on the {est.n_rows} training rows its sample left out"
        if advice.held_out
        else f"{CV_FOLDS}-fold estimate over training + validation rows"
    )
    report.on_message(
        f"Short of the aim on validation, but the {hit.candidate} configuration's "
        f"{where} is {est.score:.4f} "
        f"(± {est.se:.4f}): a {advice.probability:.0%} chance that a test look passes; looking."
    )


def problem_of(dataset: Dataset, seed: int) -> Problem:
    """What the loop sees of a data set: training and validation parts, never the test rows."""
    train_part = dataset.train
    val, own = dataset.task.scored_part(train_part, dataset.validation, seed)
    assert val.y is not None
    return Problem(
        dataset.task,
        dataset.metric,
        dataset.n_outputs,
        train_part.X,
        train_part.y,
        val.X,
        val.y,
        len(dataset.test),
        seed,
        scored_train_rows=own,
    )


def _baseline_model(dataset: Dataset, seed: int) -> FittedModel:
    """The task's trivial model as a fitted model (the fallback if no trial finishes)."""
    pipeline = dataset.task.baseline(dataset.train.X, dataset.train.y, seed)
    features, model = pipeline.steps[0][1], pipeline.steps[-1][1]
    return FittedModel(-1, "baseline", {}, len(dataset.train), features, model, math.nan)


def _baseline_score(
    dataset: Dataset, baseline_test: Any, chosen_test: Any, seed: int
) -> float | None:
    """The trivial model's test score (None until the task can tell what it is)."""
    pred = dataset.task.baseline_prediction(baseline_test, chosen_test, seed)
    if pred is None or dataset.test.y is None:
        return None
    return dataset.metric.score(dataset.test.y, pred, dataset.n_outputs)


def _best_looked(
    looks: list[tuple[FittedModel, Certificate]], metric: Metric
) -> tuple[FittedModel, Certificate]:
    """Among the models already looked at, the one with the best bound (no new look)."""
    best = looks[0]
    for item in looks[1:]:
        if metric.better(item[1].test_bound, best[1].test_bound):
            best = item
    return best


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
