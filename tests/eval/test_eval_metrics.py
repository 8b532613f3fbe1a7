"""compute_metrics and the bootstrap against scikit-learn, a hand-computed example and the ISIC scorer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from skinbench.classes import CLASSES, FROM_ISIC, ISIC_COLUMNS
from skinbench.eval.metrics import (
    BOOTSTRAP_METRICS,
    aggregate_seeds,
    bootstrap,
    compute_metrics,
    intervals,
    resampled_metrics,
)


def _random(n: int = 400, k: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y_true] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, probs


def test_equals_scikit_learn_on_random_predictions() -> None:
    y_true, probs = _random()
    y_pred = probs.argmax(axis=1)
    m = compute_metrics(y_true, probs)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        assert m[f"{average}_precision"] == pytest.approx(precision)
        assert m[f"{average}_recall"] == pytest.approx(recall)
        assert m[f"{average}_f1"] == pytest.approx(f1)
        assert m[f"{average}_auc"] == pytest.approx(roc_auc_score(y_true, probs, multi_class="ovr", average=average))
    assert m["confusion_matrix"] == confusion_matrix(y_true, y_pred).tolist()
    cm = np.array(m["confusion_matrix"])
    for index, name in enumerate(CLASSES):
        per_class = m["per_class"][name]
        assert per_class["auc"] == pytest.approx(roc_auc_score(y_true == index, probs[:, index]))
        tn = cm.sum() - cm[index].sum() - cm[:, index].sum() + cm[index, index]
        fp = cm[:, index].sum() - cm[index, index]
        assert per_class["specificity"] == pytest.approx(tn / (tn + fp))
        assert per_class["support"] == int((y_true == index).sum())
    specificity = np.array([m["per_class"][c]["specificity"] for c in CLASSES])
    recall = np.array([m["per_class"][c]["recall"] for c in CLASSES])
    assert m["paper_balanced_accuracy"] == pytest.approx(np.mean((recall + specificity) / 2))


def test_hand_computed_three_class_example() -> None:
    y_true = [0, 0, 1, 1, 2, 2]
    probs = np.array([
        [0.8, 0.1, 0.1],  # 0 -> 0
        [0.3, 0.6, 0.1],  # 0 -> 1
        [0.2, 0.7, 0.1],  # 1 -> 1
        [0.1, 0.8, 0.1],  # 1 -> 1
        [0.1, 0.2, 0.7],  # 2 -> 2
        [0.5, 0.2, 0.3],  # 2 -> 0
    ])
    m = compute_metrics(y_true, probs)
    assert m["classes"] == ["0", "1", "2"]
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    expected = {
        "0": {"precision": 1 / 2, "recall": 1 / 2, "specificity": 3 / 4, "f1": 1 / 2, "auc": 7 / 8, "support": 2},
        "1": {"precision": 2 / 3, "recall": 1.0, "specificity": 3 / 4, "f1": 4 / 5, "auc": 1.0, "support": 2},
        "2": {"precision": 1.0, "recall": 1 / 2, "specificity": 1.0, "f1": 2 / 3, "auc": 1.0, "support": 2},
    }
    for name, values in expected.items():
        assert m["per_class"][name] == pytest.approx(values)
    assert m["paper_balanced_accuracy"] == pytest.approx((0.625 + 0.875 + 0.75) / 3)
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["macro_auc"] == pytest.approx((7 / 8 + 1 + 1) / 3)
    assert m["weighted_auc"] == pytest.approx(m["macro_auc"])  # equal supports
    assert m["notes"] == []


def test_a_class_without_positives_has_no_auc_and_no_crash() -> None:
    y_true, probs = _random()
    keep = y_true != CLASSES.index("df")
    m = compute_metrics(y_true[keep], probs[keep])
    assert m["per_class"]["df"]["auc"] is None
    assert m["per_class"]["df"]["support"] == 0
    defined = [m["per_class"][c]["auc"] for c in CLASSES if c != "df"]
    assert m["macro_auc"] == pytest.approx(np.mean(defined))
    assert "df" in m["notes"][0]
    json.dumps(m, allow_nan=False)  # JSON-ready: no NaN anywhere


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_an_absent_class_is_left_out_of_every_macro_mean() -> None:
    """df absent from y_true but predicted: every macro mean is the mean over the six present classes."""
    y_true, probs = _random(400, seed=2)
    df = CLASSES.index("df")
    keep = y_true != df
    y_true, probs = y_true[keep], probs[keep]
    y_pred = probs.argmax(axis=1)
    assert (y_pred == df).any()  # df's precision 0 and F1 0 would pull the old macro means down
    present = [c for c in range(len(CLASSES)) if c != df]
    m = compute_metrics(y_true, probs)

    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    stacked = multilabel_confusion_matrix(y_true, y_pred, labels=present)
    specificity = stacked[:, 0, 0] / (stacked[:, 0, 0] + stacked[:, 0, 1])
    auc = [roc_auc_score(y_true == c, probs[:, c]) for c in present]
    assert m["macro_precision"] == pytest.approx(np.mean(precision))
    assert m["macro_recall"] == pytest.approx(np.mean(recall))
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert m["macro_specificity"] == pytest.approx(np.mean(specificity))
    assert m["macro_auc"] == pytest.approx(np.mean(auc))
    assert m["paper_balanced_accuracy"] == pytest.approx(np.mean((recall + specificity) / 2))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(m["macro_recall"])
    # Weighted means give df weight 0, whichever labels scikit-learn is given.
    assert m["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=present, average="weighted"))
    assert m["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=range(len(CLASSES)), average="weighted"))
    # The per-class entry is still there, with support 0; the note names the class.
    assert m["per_class"]["df"]["support"] == 0 and m["per_class"]["df"]["auc"] is None
    (note,) = m["notes"]
    assert note.startswith("no true image of df among the evaluated images: left out of every macro mean")


def test_a_class_that_is_every_image_has_no_auc_and_the_rest_are_absent() -> None:
    y_true = np.zeros(5, dtype=int)
    probs = np.random.default_rng(0).dirichlet(np.ones(len(CLASSES)), size=5)
    m = compute_metrics(y_true, probs)
    recall = m["per_class"]["akiec"]["recall"]
    assert m["macro_recall"] == pytest.approx(recall) and m["balanced_accuracy"] == pytest.approx(recall)
    assert m["macro_auc"] is None and m["weighted_auc"] is None
    assert m["notes"] == [
        "no true image of bcc, bkl, df, mel, nv, vasc among the evaluated images: left out of every macro mean "
        "(both balanced accuracies included), weight 0 in the weighted means, ROC AUC undefined",
        "ROC AUC undefined for akiec (only one kind of label in y_true); left out of macro and weighted AUC",
    ]
    json.dumps(m, allow_nan=False)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"need probs of shape \(N, K\) with N = len\(y_true\) > 0; got \(3, 7\) for 2 labels"):
        compute_metrics([0, 1], np.ones((3, 7)) / 7)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 7\); got 0..9"):
        compute_metrics([0, 9], np.ones((2, 7)) / 7)


def test_balanced_accuracy_and_macro_auc_equal_the_isic_scorer() -> None:
    isic = pytest.importorskip("isic_challenge_scoring.metrics")
    y_true, probs = _random(500, seed=3)
    order = [CLASSES.index(FROM_ISIC[c]) for c in ISIC_COLUMNS]
    truth = pd.DataFrame(np.eye(len(CLASSES))[y_true][:, order], columns=list(ISIC_COLUMNS))
    prediction = pd.DataFrame(probs[:, order], columns=list(ISIC_COLUMNS))
    weights = pd.Series(np.ones(len(y_true)))
    m = compute_metrics(y_true, probs)
    assert m["balanced_accuracy"] == pytest.approx(isic.balanced_multiclass_accuracy(truth, prediction, weights))
    official_auc = np.mean([isic.auc(truth[c], prediction[c], weights) for c in ISIC_COLUMNS])
    assert m["macro_auc"] == pytest.approx(official_auc)


def test_resampled_metrics_equal_compute_metrics_on_the_resamples() -> None:
    y_true, probs = _random(120, seed=5)
    probs = np.round(probs, 1)  # ties in the scores, as predictions.csv rounding can make
    probs[0] = probs[1]
    rng = np.random.default_rng(1)
    counts = rng.multinomial(len(y_true), np.full(len(y_true), 1 / len(y_true)), size=4)
    counts[3] = 0
    counts[3, y_true != 3] = 1  # a resample with no df at all
    got = resampled_metrics(counts, y_true, probs)
    for row in range(len(counts)):
        index = np.repeat(np.arange(len(y_true)), counts[row])
        expected = compute_metrics(y_true[index], probs[index])
        for metric in BOOTSTRAP_METRICS:
            assert got[metric][row] == pytest.approx(expected[metric]), (metric, row)


def test_resamples_of_a_cell_lacking_a_class_follow_the_absent_class_rule() -> None:
    """The cell has no df; one resample also lacks vasc: each resample's macro values are compute_metrics'."""
    y_true, probs = _random(150, seed=6)
    keep = y_true != CLASSES.index("df")
    y_true, probs = y_true[keep], probs[keep]
    rng = np.random.default_rng(2)
    counts = rng.multinomial(len(y_true), np.full(len(y_true), 1 / len(y_true)), size=3)
    counts[2, y_true == CLASSES.index("vasc")] = 0
    got = resampled_metrics(counts, y_true, probs)
    for row in range(len(counts)):
        index = np.repeat(np.arange(len(y_true)), counts[row])
        expected = compute_metrics(y_true[index], probs[index])
        for metric in BOOTSTRAP_METRICS:
            assert got[metric][row] == pytest.approx(expected[metric]), (metric, row)
        present = sorted(set(y_true[index]))
        f1 = f1_score(y_true[index], probs[index].argmax(axis=1), labels=present, average="macro", zero_division=0)
        assert got["macro_f1"][row] == pytest.approx(f1)
        assert got["balanced_accuracy"][row] == pytest.approx(expected["macro_recall"])


def test_bootstrap_takes_a_seed_sequence() -> None:
    y_true, probs = _random(100)
    one = bootstrap(y_true, probs, n=50, seed=np.random.SeedSequence([0, 1]))
    again = bootstrap(y_true, probs, n=50, seed=np.random.SeedSequence([0, 1]))
    other = bootstrap(y_true, probs, n=50, seed=np.random.SeedSequence([0, 2]))
    for metric in BOOTSTRAP_METRICS:
        np.testing.assert_array_equal(one[metric], again[metric])
        assert not np.array_equal(one[metric], other[metric])


def test_bootstrap_is_seeded_and_its_interval_brackets_the_estimate() -> None:
    """The report's path for one cell: intervals([bootstrap(y_true, probs, n, seed)])."""
    y_true, probs = _random(300)
    samples = bootstrap(y_true, probs, n=200, seed=7)
    assert set(samples) == set(BOOTSTRAP_METRICS)
    assert all(values.shape == (200,) for values in samples.values())
    same, other = bootstrap(y_true, probs, n=200, seed=7), bootstrap(y_true, probs, n=200, seed=8)
    for metric in BOOTSTRAP_METRICS:
        np.testing.assert_array_equal(same[metric], samples[metric])
        assert not np.array_equal(other[metric], samples[metric])
    ci = intervals([samples])
    assert set(ci) == set(BOOTSTRAP_METRICS)
    point = compute_metrics(y_true, probs)
    for metric in BOOTSTRAP_METRICS:
        assert ci[metric] == {  # the 2.5th and 97.5th percentiles of the resampled values
            "low": pytest.approx(np.percentile(samples[metric], 2.5)),
            "high": pytest.approx(np.percentile(samples[metric], 97.5)),
        }
        assert ci[metric]["low"] < point[metric] < ci[metric]["high"]
    narrower = intervals([samples], level=0.5)
    for metric in BOOTSTRAP_METRICS:
        assert ci[metric]["low"] < narrower[metric]["low"] < narrower[metric]["high"] < ci[metric]["high"]
    json.dumps(ci, allow_nan=False)


def test_intervals_of_several_seeds_average_each_resample() -> None:
    y_true, probs = _random(200)
    a = bootstrap(y_true, probs, n=300, seed=0)
    b = {k: v + 0.1 for k, v in a.items()}
    shifted = intervals([a, b])
    alone = intervals([a])
    for metric in BOOTSTRAP_METRICS:
        assert shifted[metric]["low"] == pytest.approx(alone[metric]["low"] + 0.05)
        assert shifted[metric]["high"] == pytest.approx(alone[metric]["high"] + 0.05)


def test_aggregate_seeds_mean_and_sample_std() -> None:
    y_true, probs = _random(200)
    one = compute_metrics(y_true, probs)
    two = compute_metrics(y_true[:150], probs[:150])
    both = aggregate_seeds([one, two])
    assert both["accuracy"]["mean"] == pytest.approx((one["accuracy"] + two["accuracy"]) / 2)
    assert both["accuracy"]["std"] == pytest.approx(np.std([one["accuracy"], two["accuracy"]], ddof=1))
    assert both["accuracy"]["n"] == 2
    assert both["per_class.df.f1"]["mean"] == pytest.approx((one["per_class"]["df"]["f1"] + two["per_class"]["df"]["f1"]) / 2)
    single = aggregate_seeds([one])
    assert single["accuracy"] == {"mean": one["accuracy"], "std": None, "n": 1}


def test_singleton_clusters_draw_exactly_what_the_image_bootstrap_draws() -> None:
    y_true, probs = _random(90, 7, seed=4)
    images = bootstrap(y_true, probs, 300, seed=7)
    lesions = bootstrap(y_true, probs, 300, seed=7, clusters=[f"L{i}" for i in range(90)])
    for metric in images:
        np.testing.assert_array_equal(images[metric], lesions[metric])


def test_the_cluster_bootstrap_is_wider_when_a_lesions_images_agree() -> None:
    """Each lesion photographed three times, the model right or wrong on all three: the image bootstrap
    treats 300 images as independent; the lesion bootstrap sees 100 lesions, and is about sqrt(3) wider."""
    rng = np.random.default_rng(0)
    right = np.repeat(rng.random(100) < 0.7, 3)
    y_true = np.zeros(300, dtype=np.int64)
    probs = np.where(right[:, None], np.eye(2)[0], np.eye(2)[1])
    lesions = np.repeat(np.arange(100), 3)
    spread = {name: float(np.std(bootstrap(y_true, probs, 2000, seed=1, clusters=c)["accuracy"]))
              for name, c in (("images", None), ("lesions", lesions))}
    assert spread["lesions"] / spread["images"] == pytest.approx(np.sqrt(3), rel=0.15)
