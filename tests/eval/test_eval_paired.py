"""Paired comparisons: the paired bootstrap against an independent computation, McNemar against scipy and a
hand example, the absent-class rule, alignment by image id, and the summary over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from skinbench.errors import RunError
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.metrics import resample_counts
from skinbench.eval.paired import (
    METRICS,
    PAIRED_METRICS,
    align,
    compare_paired,
    CLUSTERED_MCNEMAR_TEST,
    MCNEMAR_TEST,
    mcnemar,
    over_seeds,
    paired_bootstrap,
    percentile_interval,
    point_values,
    resampled_values,
    unpaired_interval,
)


def _cells(n: int = 120, k: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two cells' probabilities on the same images, the second a little worse."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    probs = []
    for bonus in (1.5, 0.8):
        logits = rng.normal(size=(n, k))
        logits[np.arange(n), y_true] += bonus
        probs.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return y_true, probs[0], probs[1]


def _spread(metrics: dict, name: str) -> float:
    return float(np.std([c[name] for c in metrics["per_class"].values() if c["support"] > 0]))


def _metrics_of(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Each METRICS value from compute_metrics on the given images (an independent computation)."""
    m = compute_metrics(y_true, probs)
    return {**{k: m[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")},
            "f1_spread": _spread(m, "f1"), "recall_spread": _spread(m, "recall")}


def test_paired_interval_equals_percentiles_of_resample_differences_computed_independently() -> None:
    y_true, a, b = _cells()
    n = 200
    samples = paired_bootstrap(y_true, a, b, n=n, seed=7)
    # The same stream, drawn again: each resample's images, both cells scored on them by compute_metrics.
    draws = np.random.default_rng(7).integers(0, len(y_true), size=(n, len(y_true)))
    expected = {m: [] for m in METRICS}
    for rows in draws:
        on_a, on_b = _metrics_of(y_true[rows], a[rows]), _metrics_of(y_true[rows], b[rows])
        for m in METRICS:
            expected[m].append(on_a[m] - on_b[m])
    for m in METRICS:
        np.testing.assert_allclose(samples[m], expected[m], atol=1e-12, err_msg=m)
        low, high = percentile_interval(samples[m])
        assert (low, high) == pytest.approx(tuple(np.percentile(expected[m], [2.5, 97.5])), abs=1e-12)
    result = compare_paired(y_true, a, b, n=n, seed=7)
    assert result.interval["balanced_accuracy"] == pytest.approx(tuple(np.percentile(expected["balanced_accuracy"], [2.5, 97.5])))


def test_one_resample_draw_serves_both_cells() -> None:
    """Comparing a cell with itself gives a difference of exactly 0 in every resample."""
    y_true, a, _ = _cells()
    samples = paired_bootstrap(y_true, a, a.copy(), n=50, seed=1)
    for m in PAIRED_METRICS:
        assert np.all(samples[m] == 0.0)


def test_a_class_absent_from_a_resample_is_left_out_of_both_cells_macro_means() -> None:
    # Class 2 has one image: resamples without it average classes 0 and 1 only, for both cells.
    y_true = np.array([0, 0, 0, 1, 1, 1, 2])
    a = np.eye(3)[[0, 0, 1, 1, 1, 0, 2]]
    b = np.eye(3)[[0, 0, 0, 1, 1, 1, 0]]
    counts = resample_counts(len(y_true), 300, seed=3)
    lacking = counts[:, 6] == 0
    assert lacking.any() and (~lacking).any()
    values = resampled_values(counts, y_true, a)
    for row in np.flatnonzero(lacking)[:20]:
        rows = np.repeat(np.arange(len(y_true)), counts[row])
        expected = _metrics_of(y_true[rows], a[rows][:, :3])
        assert values["balanced_accuracy"][row] == pytest.approx(expected["balanced_accuracy"])
        assert values["macro_f1"][row] == pytest.approx(expected["macro_f1"])
        assert values["f1_spread"][row] == pytest.approx(expected["f1_spread"])
    samples = paired_bootstrap(y_true, a, b, n=300, seed=3)
    assert not np.isnan(samples["balanced_accuracy"]).any()


def test_point_values_are_compute_metrics_and_a_group_is_the_mean_of_its_cells() -> None:
    y_true, a, b = _cells()
    assert point_values(y_true, a) == pytest.approx(_metrics_of(y_true, a))
    group = point_values(y_true, [a, b])
    for m in METRICS:
        assert group[m] == pytest.approx((_metrics_of(y_true, a)[m] + _metrics_of(y_true, b)[m]) / 2)


def test_mcnemar_hand_example() -> None:
    # b = 1 image only a gets right, c = 9 only b gets right: p = 2 * (C(10,0) + C(10,1)) / 2**10.
    correct_a = np.array([True] * 1 + [False] * 9 + [True] * 5 + [False] * 3)
    correct_b = np.array([False] * 1 + [True] * 9 + [True] * 5 + [False] * 3)
    result = mcnemar(correct_a, correct_b)
    assert (result.a_only, result.b_only) == (1, 9)
    assert result.p_value == pytest.approx(0.021484375, abs=1e-15)
    assert "binomtest" in result.test


def test_mcnemar_equals_scipy_binomtest_on_the_discordant_counts() -> None:
    y_true, a, b = _cells(n=300, seed=4)
    correct_a, correct_b = a.argmax(axis=1) == y_true, b.argmax(axis=1) == y_true
    result = mcnemar(correct_a, correct_b)
    only_a, only_b = int((correct_a & ~correct_b).sum()), int((~correct_a & correct_b).sum())
    assert (result.a_only, result.b_only) == (only_a, only_b)
    assert result.p_value == stats.binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue
    assert compare_paired(y_true, a, b, n=0).mcnemar == result
    assert mcnemar([True, False], [True, False]).p_value == 1.0  # no discordant image


def test_align_matches_by_image_id_and_refuses_other_images() -> None:
    ids = np.array(["i0", "i1", "i2", "i3"])
    y = np.array([0, 1, 2, 1])
    probs = np.eye(3)[[0, 1, 1, 1]]
    order = np.array([2, 0, 3, 1])
    aligned = align([(ids, y, probs), (ids[order], y[order], probs[order])], ["a", "b"])
    np.testing.assert_array_equal(aligned.probs[1], probs)
    np.testing.assert_array_equal(aligned.y_true, y)
    with pytest.raises(RunError, match="not evaluated on the same images"):
        align([(ids, y, probs), (ids[:3], y[:3], probs[:3])], ["a", "b"])
    with pytest.raises(RunError, match="different true labels"):
        align([(ids, y, probs), (ids, np.array([0, 1, 2, 2]), probs)], ["a", "b"])


def test_over_seeds_t_interval_from_three_seeds() -> None:
    one, two = over_seeds([0.05]), over_seeds([0.05, 0.01])
    assert (one.mean, one.std, one.n, one.t_low) == (0.05, None, 1, None)
    assert two.std == pytest.approx(np.std([0.05, 0.01], ddof=1)) and two.t_low is None
    values = [0.05, 0.01, 0.03, 0.04]
    summary = over_seeds(values)
    expected = stats.t.interval(0.95, df=3, loc=np.mean(values), scale=stats.sem(values))
    assert (summary.t_low, summary.t_high) == pytest.approx(expected)
    assert summary.mean == pytest.approx(0.0325) and summary.n == 4


def test_interval_over_seeds_averages_resamples_first() -> None:
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=500), rng.normal(size=500)
    assert percentile_interval([first, second]) == pytest.approx(tuple(np.percentile((first + second) / 2, [2.5, 97.5])))
    assert unpaired_interval([first], [second]) == pytest.approx(tuple(np.percentile(first - second, [2.5, 97.5])))


def test_clustered_mcnemar_is_durkalskis_statistic_and_mcnemars_chi_square_without_clusters() -> None:
    """Durkalski et al. 2003: X = (sum_k d_k)^2 / sum_k d_k^2, d_k = a-only minus b-only images of lesion k."""
    from scipy.stats import chi2

    correct_a = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 0], dtype=bool)
    correct_b = np.array([0, 0, 1, 1, 0, 1, 1, 0, 0, 0], dtype=bool)
    lesions = np.array(["L1", "L1", "L2", "L2", "L3", "L4", "L5", "L6", "L6", "L7"])
    d = np.array([2, -1, 1, 0, -1, 2, 0])  # per lesion L1..L7: 1 + 1, 0 - 1, 1, 0, -1, 1 + 1, 0
    result = mcnemar(correct_a, correct_b, lesions)
    assert (result.a_only, result.b_only) == (5, 2) and result.test == CLUSTERED_MCNEMAR_TEST
    assert result.p_value == pytest.approx(chi2.sf(d.sum() ** 2 / (d**2).sum(), 1))
    # Without clusters of several images it is the exact test, whatever the labels are.
    assert mcnemar(correct_a, correct_b, [f"L{i}" for i in range(10)]) == mcnemar(correct_a, correct_b)
    assert mcnemar(correct_a, correct_b).test == MCNEMAR_TEST


def test_clustered_mcnemar_is_wider_when_the_lesions_images_agree() -> None:
    """Two images of each lesion, both discordant the same way: half the independent evidence."""
    correct_a = np.r_[np.ones(30, bool), np.zeros(10, bool)]
    correct_b = ~correct_a
    pairs = np.repeat(np.arange(20), 2)
    assert mcnemar(correct_a, correct_b, pairs).p_value > mcnemar(correct_a, correct_b).p_value * 5


def test_the_paired_bootstrap_resamples_lesions_with_all_their_images() -> None:
    y_true, a, b = _cells()
    lesions = np.repeat(np.arange(60), 2)  # two images per lesion
    counts = resample_counts(len(y_true), 200, seed=1, clusters=lesions)
    assert (counts[:, 0::2] == counts[:, 1::2]).all()  # an image comes with its lesion
    assert (counts.sum(axis=1) == len(y_true)).all()
    result = compare_paired(y_true, a, b, n=200, seed=1, clusters=lesions)
    expected = resampled_values(counts, y_true, a)["accuracy"] - resampled_values(counts, y_true, b)["accuracy"]
    np.testing.assert_allclose(result.samples["accuracy"], expected)
    assert result.mcnemar.test == CLUSTERED_MCNEMAR_TEST


def test_holm_on_a_worked_example() -> None:
    """Holm 1979: sorted p (0.01, 0.02, 0.03, 0.04) times (4, 3, 2, 1) = (0.04, 0.06, 0.06, 0.04) -> running max."""
    from skinbench.eval.paired import holm

    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2 x 0.5 caps at 1, and the larger p cannot fall below it
    assert holm([]) == []


def test_t_sides_are_one_sided_t_tests_and_bootstrap_sides_count_resamples() -> None:
    from scipy import stats

    from skinbench.eval.paired import bootstrap_sides, t_sides

    diffs = [0.04, 0.06, 0.05, 0.03]
    above, below = t_sides(diffs, -0.05)
    assert above == pytest.approx(stats.ttest_1samp(diffs, -0.05, alternative="greater").pvalue)
    assert above + below == pytest.approx(1.0) and t_sides(diffs[:2]) is None
    samples = np.array([-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert bootstrap_sides(samples) == pytest.approx(((1 + 3) / 10, (1 + 7) / 10))
    # two seeds: resample r of each averaged first
    assert bootstrap_sides([samples, samples + 1.0]) == pytest.approx(((1 + 0) / 10, (1 + 9) / 10))
