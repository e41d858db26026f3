"""The rule that times the run's first test look short of the aim (``first_look``).

Its predicted chance that a look passes is checked by simulation against the look itself
(the exact Clopper-Pearson bound at look 1's alpha), and its decisions on the two cases
that set it: cheap trials with most of the budget left wait for the aim (breast cancer at
0.9), a search stalled short of the aim with costly trials looks (a churn table at 0.945).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from learnloop.certify import LookPolicy, clopper_pearson_bound
from learnloop.metrics import Prediction, get_metric
from learnloop.search.aim import Aim
from learnloop.search.look_rule import P_EARLY, P_MIN, call, early_call, pass_chance

THRESHOLD = 0.9
N_VAL = N_TEST = 400
ACCURACY = get_metric("accuracy")
ALPHA = LookPolicy(0.95, THRESHOLD, ACCURACY).alpha_at(1)
EARLY_ALPHA = LookPolicy(0.95, THRESHOLD, ACCURACY).early_alpha


def _aim(val_right: int, n_val: int = N_VAL, n_test: int = N_TEST) -> Aim:
    """The aim a run sets from its first pass: a model with ``val_right`` of ``n_val``."""
    aim = Aim(ACCURACY, THRESHOLD, ALPHA)
    y = np.ones(n_val, dtype=int)
    pred = Prediction(np.r_[np.ones(val_right, dtype=int), np.zeros(n_val - val_right, int)])
    aim.note_pass(y, pred, 2, n_test, 0)
    return aim


@pytest.mark.parametrize("alpha", [ALPHA, EARLY_ALPHA], ids=["look-1", "early"])
def test_the_predicted_chance_matches_how_often_the_look_passes(alpha: float) -> None:
    """Simulation: 40,000 models of true accuracy spread around the threshold (0.80-0.995,
    wider than the noise: no edge of the spread says more than the scores), each scored
    on 400 validation rows and 400 test rows; among those past the threshold on validation,
    the look (Clopper-Pearson bound at look 1's alpha, or at an early look's smaller one)
    passes about as often as predicted, in every band of predicted chance (within 0.06),
    and more often the higher the band."""
    rng = np.random.default_rng(28)
    truth = rng.uniform(0.80, 0.995, 40_000)
    val = rng.binomial(N_VAL, truth)
    test = rng.binomial(N_TEST, truth)
    past = val >= THRESHOLD * N_VAL
    chance_of = {
        k: pass_chance(_aim(int(k)), k / N_VAL, N_TEST, alpha) for k in np.unique(val[past])
    }
    chance = np.array([chance_of[k] for k in val[past]], dtype=float)
    bound = stats.beta.ppf(alpha, test[past], N_TEST - test[past] + 1)
    assert bound[0] == clopper_pearson_bound(int(test[past][0]), N_TEST, alpha)
    passed = bound >= THRESHOLD
    observed = []
    for low, high in [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.01)]:
        band = (chance >= low) & (chance < high)
        assert band.sum() > 500
        observed.append(passed[band].mean())
        assert abs(passed[band].mean() - chance[band].mean()) < 0.06, (low, observed)
    assert observed == sorted(observed)


def test_the_chance_at_the_aim_is_fair_and_just_past_the_threshold_poor() -> None:
    aim = _aim(372)  # 0.93 on validation
    assert aim.target is not None
    at_aim = pass_chance(aim, aim.target, N_TEST)
    at_threshold = pass_chance(aim, THRESHOLD, N_TEST)
    assert at_aim is not None and at_threshold is not None
    assert 0.6 < at_aim < 0.9 and at_threshold < 0.1


def test_cheap_trials_with_the_budget_ahead_wait_for_the_aim() -> None:
    """Breast cancer at 0.9 (114 validation rows, 154 test rows): the first trial, 0.947,
    is a fair chance, but trials take a hundredth of a second and 19.9 s are left: wait."""
    aim = _aim(108, n_val=114, n_test=154)
    said = call(aim, 0, 108 / 114, [108 / 114], elapsed_s=0.05, left_s=19.9, n_test=154)
    assert said is not None and said.chance >= P_MIN
    assert not said.look
    loaded = call(aim, 0, 108 / 114, [108 / 114], elapsed_s=5.0, left_s=15.0, n_test=154)
    assert loaded is not None and not loaded.look  # a slow first trial: still one more


def test_a_search_stalled_short_of_the_aim_looks() -> None:
    """A churn table at 0.945 (1,000 rows each): ten trials past the threshold, none at the
    aim (0.966), two seconds each, 35 s left: the best (0.964) gets the look."""
    aim = Aim(ACCURACY, 0.945, ALPHA)
    y = np.ones(1000, dtype=int)
    aim.note_pass(y, Prediction(np.r_[np.ones(959, int), np.zeros(41, int)]), 2, 1000, 0)
    scores = [0.959, 0.857, 0.957, 0.953, 0.929, 0.964, 0.882, 0.956, 0.963, 0.961, 0.962]
    said = call(aim, 5, 0.964, scores, elapsed_s=22.0, left_s=35.0, n_test=1000)
    assert said is not None and said.look
    # the same search with most of a long budget ahead still waits
    waits = call(aim, 5, 0.964, scores[:3], elapsed_s=1.0, left_s=600.0, n_test=1000)
    assert waits is not None and not waits.look


def test_a_poor_chance_never_looks_early() -> None:
    aim = _aim(372)
    said = call(aim, 0, THRESHOLD, [THRESHOLD] * 20, elapsed_s=50.0, left_s=1.0, n_test=N_TEST)
    assert said is not None and said.chance < P_MIN and not said.look


def test_an_early_look_is_made_at_once_when_its_chance_at_its_alpha_is_fair() -> None:
    """``cheap_first_look``: no wait for a trial after the first pass, no clock; the chance
    is the one at the early look's alpha (lower than at look 1's), and a model just past
    the threshold does not get the look."""
    aim = _aim(380)  # 0.95 on validation
    aim.alpha_early = EARLY_ALPHA
    assert EARLY_ALPHA is not None and EARLY_ALPHA < ALPHA
    said = early_call(aim, 0, 0.95, [0.95], N_TEST)
    assert said is not None and said.since_pass == 0
    assert said.chance == pass_chance(aim, 0.95, N_TEST, EARLY_ALPHA)
    assert said.chance < (pass_chance(aim, 0.95, N_TEST) or 0.0)
    assert said.look == (said.chance >= P_EARLY) and said.look
    just_past = early_call(aim, 0, 0.905, [0.905], N_TEST)
    assert just_past is not None and not just_past.look
    aim.alpha_early = None  # a resumed session, or a run with one look: no early look
    assert early_call(aim, 0, 0.95, [0.95], N_TEST) is None


def test_after_a_failed_early_look_the_run_goes_on_at_the_next_looks_alpha() -> None:
    """A side bet: the aim stays (moved to the next look's smaller alpha, so a little
    further), no early look again, the rule's chance at the next look's alpha, and neither
    the rule nor the estimate may send a model no better than the one that failed."""
    aim = _aim(380)
    aim.alpha_early = EARLY_ALPHA
    target, margin = aim.target, aim.margin
    assert target is not None and margin is not None
    alpha_next = LookPolicy(0.95, THRESHOLD, ACCURACY)
    alpha_next.plan_early_look()
    aim.after_early_look(0.95, alpha_next.alpha_at(2))
    assert aim.alpha_early is None and aim.alpha_look == alpha_next.alpha_at(2)
    assert aim.first_pass_look and aim.looks_failed == 0  # the rule may still look
    assert 0 < aim.target - target < 0.2 * margin  # z 2.03 instead of 1.88 on se_test
    assert not aim.worth_a_look(0.95) and aim.worth_a_look(0.9525)
    assert not aim.passed(0.95, 5)
    before = pass_chance(aim, 0.96, N_TEST, ALPHA)
    assert pass_chance(aim, 0.96, N_TEST) == pass_chance(aim, 0.96, N_TEST, aim.alpha_look)
    assert (pass_chance(aim, 0.96, N_TEST) or 0.0) < (before or 0.0)
