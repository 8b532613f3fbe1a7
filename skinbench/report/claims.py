"""The paper's conclusions, each stated as a comparison of this run's cells, with a verdict.

Each claim compares side a with side b (one cell, or a group of cells averaged) on the same
images: the same split and seed, matched by image id (``report.pairs``). Per seed, the
difference a - b of each measure and its 95% paired-bootstrap interval (``eval.paired``);
over seeds, the mean difference, its sd and, from three seeds on, a t interval.

Verdict of one measure. The paper's direction is a sign and a threshold (0 unless stated):
"a - b > threshold" or "a - b < threshold". The deciding test is Student's t over seeds when
the comparison has at least three seeds (its 95% t interval is shown), else the paired
bootstrap (of the mean over seeds when two; lesions resampled), whose percentile interval is
shown; each gives a one-sided p-value for each side of the threshold (``eval.paired.t_sides``,
``bootstrap_sides``) and a two-sided p-value, twice the smaller.

Many claims at once. The family is the verdict rows of one claim on one split (every
comparison and measure of it); their two-sided p-values are adjusted with Holm's step-down
method (``eval.paired.holm``), which holds the chance of any false verdict in the family at 5%.

- *supported*: the Holm-adjusted p is below 0.05 and the estimate lies on the paper's side;
- *contradicted*: the adjusted p is below 0.05 and it lies on the other side;
- *not resolved at this sample size*: otherwise (or there is no test). For a family of one row
  this is the 95% interval lying on one side of the threshold (exactly for the t test, up to
  one resample for the bootstrap).

A balance verdict (a smaller spread of per-class scores, ``Measure.holds``) is supported only
when the spread falls and the mean per-class measure does not fall by more than
MEAN_HOLDS_MARGIN (a non-inferiority test; the two together are an intersection-union test, whose
p-value is the larger of the two, Berger 1982): a spread that shrinks because the best classes
got worse is no balance. With fewer than three seeds a verdict covers the evaluated images only,
not retraining or another split: it holds for these trained models, not for the recipes, and
the table says so. A claim that a change does not help ("Dense(512) does not help") is stated
as "it does worse": without a margin no test can show no effect. "Nearly as accurate" is
stated with a margin fixed in advance, NEARLY_AS_ACCURATE_MARGIN (a - b > -margin), not with
the paper's own gap, so an exact replication can be supported. Where the paper's two numbers
were measured on different test sets (its augmented rows), its values are shown without a
difference. Only comparisons whose cells are in the run appear; each names its cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from skinbench.catalogue import (
    ABLATION_BACKBONE,
    ABLATION_ROWS,
    AUGMENTED,
    BACKBONES,
    METADATA,
    PAPER_DEVICE,
    PAPER_EPOCH_STEPS,
    RECIPES,
    display_name,
)
from skinbench.classes import CLASSES
from skinbench.errors import RunError
from skinbench.eval.paired import (
    CLUSTERED_MCNEMAR_TEST,
    MCNEMAR_TEST,
    MIN_SEEDS_FOR_T,
    PairedResult,
    bootstrap_sides,
    holm,
    over_seeds,
    percentile_interval,
    t_sides,
)
from skinbench.report.pairs import CORRECTNESS_METRIC, Predictions, cells_text, test_name
from skinbench.report.render import DASH, interval_text, run_text
from skinbench.report.runs import CellFolder
from skinbench.report.summary import CellResult, Summary
from skinbench.report.tables import Table
from skinbench.studies.do2022.published import Published, published

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
NOT_RESOLVED = "not resolved at this sample size"
#: A verdict needs a Holm-adjusted two-sided p below this (the 95% intervals' level).
ALPHA = 0.05
#: "Nearly as accurate": a - b > -NEARLY_AS_ACCURATE_MARGIN, in accuracy and in balanced accuracy. Fixed
#: before any run, and apart from the paper's own gaps (0.05 in Table 5, 0.04 in Table 11): five points is
#: what "nearly" is taken to allow.
NEARLY_AS_ACCURATE_MARGIN = 0.05
#: A balance verdict also needs the mean per-class measure not to fall by more than this (fixed in advance).
MEAN_HOLDS_MARGIN = 0.02

#: The paper's depth threshold (its observation after Table 6: DenseNet201, InceptionResNetV2 and
#: NASNetLarge, "whose depth are equal or larger than 400, have balanced f1-score"), compared with
#: model.json ``backbone_depth`` (the bare Keras application's layers with weights, as Table 3 counts).
DEEP_DEPTH = 400
TABLE_NAME = "claims"

#: key -> (the paper's conclusion, where the paper says it), in the report's order.
CLAIMS: dict[str, tuple[str, str]] = {
    "balance": (
        "Metadata and the weighted loss balance the per-class scores compared with augmented data: a higher mean "
        "per-class F1 and recall, and a smaller spread of them across classes",
        "Tables 6 and 7 and the text between them",
    ),
    "augmented_accuracy": ("Augmented data gives a higher accuracy than metadata", "Tables 4 and 5"),
    "attention_metadata": (
        "Soft attention and metadata help: [:230] with metadata against [:230] without", "Table 9 and the text after it"
    ),
    "attention_plain": ("Soft attention helps: MobileNetV3Large [:240] against plain MobileNetV3Large", "Table 9"),
    "dense512": ("A Dense(512) layer does not help: [:246] + Dense(512) against [:246]", "Table 9 and the text after it"),
    "mobile": (
        "MobileNetV3Large reaches nearly InceptionResNetV2's accuracy at a fraction of the cost", "Tables 5 and 11"
    ),
    "depth": (
        f"Deeper backbones (depth of at least {DEEP_DEPTH}) have more balanced per-class F1 (a smaller spread across "
        "classes)",
        "the text after Table 6; depths of Table 3",
    ),
}

#: Measures: eval.paired METRICS keys and their labels.
MEASURES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy (mean per-class recall)",
    "macro_f1": "Mean per-class F1",
    "f1_spread": "Spread of per-class F1 (sd over classes)",
    "recall_spread": "Spread of per-class recall (sd over classes)",
}
#: Cost ratios a / b of the mobile claim: values key -> label.
RATIOS = {
    "model.params": "Parameters (trained model), a / b",
    "timing.epoch_s": "Training time per epoch (timing.json epoch_s), a / b",
    "timing.latency_ms_b1": "Latency at batch 1 (timing.json latency_ms_b1), a / b",
}

COLUMNS = (
    "claim", "statement", "source", "comparison", "split", "measure", "kind", "cells_a", "cells_b", "n_seeds",
    "n_images", "value_a", "value_b", "value", "seed_sd", "ci_low", "ci_high", "interval", "bootstrap_low",
    "bootstrap_high", "direction", "threshold", "holds", "p_support", "p_contra", "p_value", "family_size", "p_holm",
    "verdict", "paper_a", "paper_b", "paper_value", "paper_source", "mcnemar_p", "mcnemar_test",
)


@dataclass(frozen=True)
class Measure:
    """One measure of a comparison and the paper's side of it: ``direction * (a - b - threshold) > 0``.

    ``holds``: a metric that must not fall by more than MEAN_HOLDS_MARGIN for the verdict to be
    *supported* (a balance claim's mean per-class measure). ``paper_like`` False: the paper's two
    numbers were measured on different test sets, so their difference is not shown.
    """

    metric: str  # a key of MEASURES, or of RATIOS (then ``kind`` "ratio": a / b, no verdict)
    direction: int = 1
    threshold: float = 0.0
    paper_a: float | None = None
    paper_b: float | None = None
    paper_source: str = ""
    holds: str | None = None
    paper_like: bool = True

    @property
    def kind(self) -> str:
        return "ratio" if self.metric in RATIOS else "difference"

    @property
    def paper(self) -> float | None:
        if self.paper_a is None or self.paper_b is None or not self.paper_like:
            return None
        return self.paper_a / self.paper_b if self.kind == "ratio" else self.paper_a - self.paper_b

    @property
    def side(self) -> str:
        """The paper's side, e.g. "> 0" or "> -0.04"."""
        return f"{'>' if self.direction > 0 else '<'} {self.threshold:g}" if self.kind == "difference" else ""


@dataclass(frozen=True)
class SeedCells:
    """The cells of each side at one seed (all on the same images)."""

    seed: int
    a: tuple[CellFolder, ...]
    b: tuple[CellFolder, ...]


@dataclass(frozen=True)
class Comparison:
    """One comparison of a claim: side a against side b in one split, over the seeds both have."""

    claim: str
    label: str
    split: str
    seeds: tuple[SeedCells, ...]
    measures: tuple[Measure, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def decide(p_support: float | None, p_contra: float | None, p_adjusted: float | None) -> str:
    """The verdict rule (module docstring): the side whose one-sided p is the smaller, when the family's
    Holm-adjusted p is below ALPHA; else not resolved."""
    if p_support is None or p_contra is None or p_adjusted is None or p_adjusted >= ALPHA:
        return NOT_RESOLVED
    return SUPPORTED if p_support < p_contra else CONTRADICTED


def comparisons(summary: Summary, paper: Published | None = None) -> list[Comparison]:
    """Every comparison of CLAIMS whose cells are in the run, in CLAIMS order, split by split, with the values
    of ``paper`` (default: the default version's)."""
    paper = paper or published()
    found: list[Comparison] = []
    for split in summary.splits:
        cells = _Cells(summary, split)
        found += _balance(cells, paper) + _augmented_accuracy(cells, paper) + _ablation_claims(cells, paper)
        found += _mobile(cells, paper) + _depth(cells, paper)
    order = list(CLAIMS)
    return sorted(found, key=lambda c: order.index(c.claim))  # stable: splits keep their order within a claim


def claims_frame(summary: Summary, found: Sequence[Comparison] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """COLUMNS: one row per comparison and measure; and a note per comparison that could not be computed."""
    found = comparisons(summary) if found is None else found
    predictions = Predictions()
    values = {r.cell.cell_id: r for r in summary.cells}
    rows, problems = [], []
    for comparison in found:
        try:
            results = [
                predictions.compare(s.a, s.b, n=summary.bootstrap_n, base_seed=summary.bootstrap_seed) for s in comparison.seeds
            ]
        except RunError as exc:
            problems.append(f"{comparison.label}: not compared ({exc})")
            continue
        for measure in comparison.measures:
            rows.append(_row(summary, comparison, measure, results, values))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return _adjusted(frame), problems


def _adjusted(frame: pd.DataFrame) -> pd.DataFrame:
    """Holm's adjustment within each family (a claim on a split) of its rows' p-values, and the verdicts."""
    frame = frame.astype({"p_support": float, "p_contra": float, "p_value": float, "p_holm": float,
                          "family_size": float, "verdict": object})
    tested = frame["p_value"].notna()
    for _, family in frame[tested].groupby(["claim", "split"], sort=False):
        frame.loc[family.index, "p_holm"] = holm(family["p_value"].tolist())
        frame.loc[family.index, "family_size"] = len(family)
    differences = frame["kind"] == "difference"
    frame.loc[differences, "verdict"] = [
        decide(*(None if pd.isna(v) else float(v) for v in (r.p_support, r.p_contra, r.p_holm)))
        for r in frame[differences].itertuples(index=False)
    ]
    return frame


def claims_section(summary: Summary, paper: Published | None = None) -> tuple[str, Table | None]:
    """Markdown for report.md and the table (claims.csv), or ``("", None)`` when no claim's cells are in the run."""
    paper = paper or published()
    found = comparisons(summary, paper)
    if not found:
        return "", None
    frame, problems = claims_frame(summary, found)
    table = Table(TABLE_NAME, "The paper's claims, tested", frame)
    return _markdown(summary, found, frame, problems, paper), table


# ---------------------------------------------------------------- the comparisons of each claim


class _Cells:
    """The finished cells of one split, by (backbone, recipe, ablation row) and seed."""

    def __init__(self, summary: Summary, split: str) -> None:
        self.summary, self.split = summary, split
        self.by_key: dict[tuple[str, str, str | None], dict[int, CellResult]] = {}
        for result in summary.cells:
            c = result.cell
            if c.split == split:
                self.by_key.setdefault((c.backbone, c.recipe, c.ablation), {})[c.seed] = result

    def seeds(self, backbone: str, recipe: str, ablation: str | None = None) -> dict[int, CellResult]:
        return self.by_key.get((backbone, recipe, ablation), {})

    def ablation(self, row: str) -> dict[int, CellResult]:
        return self.seeds(ABLATION_BACKBONE, METADATA, row)

    def suffix(self) -> str:
        return f" [{self.split} split]" if len(self.summary.splits) > 1 else ""

    def backbones(self) -> list[str]:
        found = {b for b, _, _ in self.by_key}
        return [b for b in BACKBONES if b in found] + sorted(found - set(BACKBONES))


def _paired(a: dict[int, CellResult], b: dict[int, CellResult]) -> tuple[SeedCells, ...]:
    return tuple(SeedCells(s, (a[s].cell,), (b[s].cell,)) for s in sorted(a.keys() & b.keys()))


def _comparison(cells: _Cells, claim: str, label: str, seeds: tuple[SeedCells, ...], measures: Sequence[Measure],
                notes: Sequence[str] = ()) -> list[Comparison]:
    return [Comparison(claim, label + cells.suffix(), cells.split, seeds, tuple(measures), tuple(notes))] if seeds else []


def _row_name(row) -> str:
    """An ablation row as the tables name it: "MobileNetV3Large [:240]", "plain MobileNetV3Large"."""
    backbone = display_name(ABLATION_BACKBONE)
    return f"plain {backbone}" if row.label == backbone else f"{backbone} {row.label}"


def _recipe_row(backbone: str, recipe: str) -> str:
    return f"{display_name(backbone)} + {RECIPES[recipe].label}"


def _paper_spread(paper: Published, table: int, row: str) -> float | None:
    """The sd over classes (ddof 0) of one row's printed per-class values (derived, not printed)."""
    values = [paper.value(table, row, c) for c in CLASSES]
    return None if any(v is None for v in values) else float(np.std(values))


def _balance(cells: _Cells, paper: Published) -> list[Comparison]:
    found = []
    for backbone in cells.backbones():
        seeds = _paired(cells.seeds(backbone, METADATA), cells.seeds(backbone, AUGMENTED))
        meta, aug = _recipe_row(backbone, METADATA), _recipe_row(backbone, AUGMENTED)
        # The paper's augmented rows come from another test set: its values are shown, not their difference.
        measures = [
            Measure("macro_f1", 1, 0.0, paper.value(6, meta, "mean"), paper.value(6, aug, "mean"), paper.cite(6),
                    paper_like=False),
            Measure("balanced_accuracy", 1, 0.0, paper.value(7, meta, "mean"), paper.value(7, aug, "mean"),
                    paper.cite(7), paper_like=False),
            Measure("f1_spread", -1, 0.0, _paper_spread(paper, 6, meta), _paper_spread(paper, 6, aug),
                    f"{paper.cite(6)}, derived: sd over classes of the printed per-class F1", holds="macro_f1",
                    paper_like=False),
            Measure("recall_spread", -1, 0.0, _paper_spread(paper, 7, meta), _paper_spread(paper, 7, aug),
                    f"{paper.cite(7)}, derived: sd over classes of the printed per-class recall",
                    holds="balanced_accuracy", paper_like=False),
        ]
        label = f"{display_name(backbone)}: {RECIPES[METADATA].label} (a) − {RECIPES[AUGMENTED].label} (b)"
        found += _comparison(cells, "balance", label, seeds, measures)
    return found


def _augmented_accuracy(cells: _Cells, paper: Published) -> list[Comparison]:
    found = []
    for backbone in cells.backbones():
        augmented, metadata = cells.seeds(backbone, AUGMENTED), cells.seeds(backbone, METADATA)
        seeds = _paired(augmented, metadata)
        name = display_name(backbone)
        measure = Measure("accuracy", 1, 0.0, paper.value(4, name, "accuracy"), paper.value(5, name, "accuracy"),
                          paper.cite(4, 5), paper_like=False)
        label = f"{name}: {RECIPES[AUGMENTED].label} (a) − {RECIPES[METADATA].label} (b)"
        notes = [_recipes_differ(augmented, metadata)] if seeds else []
        found += _comparison(cells, "augmented_accuracy", label, seeds, [measure], notes)
    return found


def _recipes_differ(a: dict[int, CellResult], b: dict[int, CellResult]) -> str:
    """What besides augmentation differs between the two recipes' cells: images per epoch and the loss."""

    def trained(cells: dict[int, CellResult]) -> str:
        images = sorted({int(v) for r in cells.values() if (v := r.values.get("timing.epoch_images")) is not None})
        weights = sorted({r.cell.config.schedule.class_weights or "none" for r in cells.values()})
        return f"{'/'.join(f'{n:,}' for n in images) or 'unknown'} images per epoch, class weights {'/'.join(weights)}"

    return (f"a trained on {trained(a)}; b on {trained(b)}: the verdict compares recipes that differ in the images "
            "seen and the loss, not augmentation alone")


def _ablation_claims(cells: _Cells, paper: Published) -> list[Comparison]:
    """Soft attention (two comparisons) and Dense(512), on Table 9's rows."""
    found = []
    for claim, row_a, row_b, direction in (
        ("attention_metadata", "cut230", "cut230-nometa", 1),
        ("attention_plain", "cut240", "plain", 1),
        ("dense512", "cut246-dense512", "cut246", -1),
    ):
        a, b = ABLATION_ROWS[row_a], ABLATION_ROWS[row_b]
        measures = [
            Measure("accuracy", direction, 0.0, paper.value(9, a.paper_name, "accuracy"),
                    paper.value(9, b.paper_name, "accuracy"), paper.cite(9)),
            Measure("balanced_accuracy", direction),
        ]
        label = f"{_row_name(a)} (a) − {_row_name(b)} (b)"
        found += _comparison(cells, claim, label, _paired(cells.ablation(row_a), cells.ablation(row_b)), measures)
    return found


def _mobile(cells: _Cells, paper: Published) -> list[Comparison]:
    """MobileNetV3Large ([:240], Table 11's, and the metadata recipe's, Table 5's) against InceptionResNetV2."""
    found = []
    irv2 = cells.seeds("inceptionresnetv2", METADATA)
    small, large = display_name(ABLATION_BACKBONE), display_name("inceptionresnetv2")
    best = ABLATION_ROWS["cut240"]
    margin = NEARLY_AS_ACCURATE_MARGIN
    for a, table, what in (
        (cells.ablation(best.key), 11, _row_name(best)),
        (cells.seeds(ABLATION_BACKBONE, METADATA), 5, f"{small} + {RECIPES[METADATA].label}"),
    ):
        paper_a, paper_b = paper.value(table, small, "accuracy"), paper.value(table, large, "accuracy")
        source = f"{paper.cite(table)}; the margin, {margin:g}, is fixed in advance, not the paper's gap"
        measures = [
            Measure("accuracy", 1, -margin, paper_a, paper_b, source),
            Measure("balanced_accuracy", 1, -margin, paper_source=f"the margin, {margin:g}, is fixed in advance"),
        ]
        params = _paper_params(paper, 3 if table == 5 else 11, small, large)
        measures.append(Measure("model.params", paper_a=params[0], paper_b=params[1], paper_source=params[2]))
        epoch = (paper.value(11, small, "epoch_s"), paper.value(11, large, "epoch_s")) if table == 11 else (None, None)
        measures.append(Measure("timing.epoch_s", paper_a=epoch[0], paper_b=epoch[1],
                                paper_source=f"{paper.cite(11)}, epochs of {PAPER_EPOCH_STEPS} steps on a {PAPER_DEVICE}"
                                if table == 11 else ""))
        measures.append(Measure("timing.latency_ms_b1"))
        label = f"{what} (a) − {large} + {RECIPES[METADATA].label} (b)"
        found += _comparison(cells, "mobile", label, _paired(a, irv2), measures)
    return found


def _paper_params(paper: Published, table: int, small: str, large: str) -> tuple[float | None, float | None, str]:
    """The paper's parameters of the two backbones and what they count: Table 3's or 11's ``params_m`` (the
    Keras applications), else the version's ``trainable_params`` (Table 3: the applications'; 11: the models')."""
    trainable = "trainable parameters (M) of the " + ("Keras applications" if table == 3 else "models as trained")
    for column, scale, what in (("params_m", 1.0, "the Keras applications"), ("trainable_params", 1e-6, trainable)):
        a, b = paper.value(table, small, column), paper.value(table, large, column)
        if a is not None and b is not None:
            return a * scale, b * scale, f"{paper.cite(table)}, {what}"
    return None, None, ""


def _depth(cells: _Cells, paper: Published) -> list[Comparison]:
    """Per recipe: the mean over deep backbones against the mean over the others, each seed on its images."""
    found = []
    for recipe in RECIPES:
        by_seed: dict[int, dict[str, CellResult]] = {}
        for backbone in cells.backbones():
            for seed, result in cells.seeds(backbone, recipe).items():
                if result.values.get("model.backbone_depth") is not None:
                    by_seed.setdefault(seed, {})[backbone] = result
        backbones, seeds = _common_backbones(by_seed)
        if not seeds:
            continue
        deep = [b for b in backbones if by_seed[seeds[0]][b].values["model.backbone_depth"] >= DEEP_DEPTH]
        shallow = [b for b in backbones if b not in deep]
        pairs = tuple(
            SeedCells(s, tuple(by_seed[s][b].cell for b in deep), tuple(by_seed[s][b].cell for b in shallow)) for s in seeds
        )
        rows = {b: _recipe_row(b, recipe) for b in backbones}
        paper_deep = [_paper_spread(paper, 6, rows[b]) for b in deep]
        paper_shallow = [_paper_spread(paper, 6, rows[b]) for b in shallow]
        complete = None not in paper_deep + paper_shallow
        measure = Measure(
            "f1_spread", -1, 0.0,
            float(np.mean(paper_deep)) if complete else None, float(np.mean(paper_shallow)) if complete else None,
            f"{paper.cite(6)}, derived: sd over classes of the printed per-class F1, mean over the same backbones"
            if complete else "",
            holds="macro_f1",
        )
        label = (f"{RECIPES[recipe].label}: depth ≥ {DEEP_DEPTH} ({_names(deep)}) (a) − depth < {DEEP_DEPTH} "
                 f"({_names(shallow)}) (b)")
        note = "depth: model.json backbone_depth, " + ", ".join(
            f"{display_name(b)} {by_seed[seeds[0]][b].values['model.backbone_depth']:.0f}" for b in backbones
        )
        found += _comparison(cells, "depth", label, pairs, [measure], [note])
    return found


def _names(backbones: Sequence[str]) -> str:
    return ", ".join(display_name(b) for b in backbones)


def _common_backbones(by_seed: dict[int, dict[str, CellResult]]) -> tuple[list[str], list[int]]:
    """One backbone set for every seed: seeds taken by most backbones first, kept while the backbones every
    kept seed has still hold a deep and a shallow one."""
    order = sorted(by_seed, key=lambda s: (-len(by_seed[s]), s))
    kept: list[int] = []
    common: set[str] = set()
    for seed in order:
        trial = set(by_seed[seed]) if not kept else common & set(by_seed[seed])
        depths = [by_seed[seed][b].values["model.backbone_depth"] for b in trial]
        if any(d >= DEEP_DEPTH for d in depths) and any(d < DEEP_DEPTH for d in depths):
            kept.append(seed)
            common = trial
    backbones = [b for b in BACKBONES if b in common] + sorted(common - set(BACKBONES))
    return backbones, sorted(kept)


# ---------------------------------------------------------------- rows and Markdown


def _row(summary: Summary, comparison: Comparison, measure: Measure, results: list[PairedResult],
         values: dict[str, CellResult]) -> dict:
    statement, source = CLAIMS[comparison.claim]
    cells_a = [c for s in comparison.seeds for c in s.a]
    cells_b = [c for s in comparison.seeds for c in s.b]
    row = {
        "claim": comparison.claim, "statement": statement, "source": source, "comparison": comparison.label,
        "split": comparison.split, "kind": measure.kind, "cells_a": cells_text(cells_a), "cells_b": cells_text(cells_b),
        "n_seeds": len(comparison.seeds), "paper_a": measure.paper_a, "paper_b": measure.paper_b,
        "paper_value": measure.paper, "paper_source": measure.paper_source,
    }
    if measure.kind == "ratio":
        mean_a = _mean([values[c.cell_id].values.get(measure.metric) for c in cells_a])
        mean_b = _mean([values[c.cell_id].values.get(measure.metric) for c in cells_b])
        ratio = None if mean_a is None or not mean_b else mean_a / mean_b
        return row | {"measure": RATIOS[measure.metric], "value_a": mean_a, "value_b": mean_b, "value": ratio}
    metric = measure.metric
    seeds = over_seeds([r.difference[metric] for r in results])
    samples = [r.samples[metric] for r in results if r.samples is not None]
    complete = bool(samples) and len(samples) == len(results)
    boot_low, boot_high = percentile_interval(samples) if complete else (None, None)
    if seeds.n >= MIN_SEEDS_FOR_T:
        low, high, interval = seeds.t_low, seeds.t_high, f"t over {seeds.n} seeds"
    else:
        low, high = boot_low, boot_high
        what = "1 seed" if len(results) == 1 else f"mean over {len(results)} seeds"
        interval = f"paired bootstrap, {what}: images only" if boot_low is not None else "none"
    p_support, p_contra = _support_and_contra(results, measure, complete)
    tests = [r.mcnemar for r in results]
    correctness = metric == CORRECTNESS_METRIC and all(tests)
    return row | {
        "measure": MEASURES[metric], "n_images": ",".join(str(r.n_images) for r in results),
        "value_a": _mean([r.a[metric] for r in results]), "value_b": _mean([r.b[metric] for r in results]),
        "value": seeds.mean, "seed_sd": seeds.std, "ci_low": low, "ci_high": high, "interval": interval,
        "bootstrap_low": boot_low, "bootstrap_high": boot_high, "direction": measure.side, "threshold": measure.threshold,
        "holds": None if measure.holds is None else f"{MEASURES[measure.holds]}: a − b > -{MEAN_HOLDS_MARGIN:g}",
        "p_support": p_support, "p_contra": p_contra,
        "p_value": None if p_support is None else min(1.0, 2 * min(p_support, p_contra)),
        "mcnemar_p": "; ".join(f"{t.p_value:.3g}" for t in tests) if correctness else None,
        "mcnemar_test": "; ".join(dict.fromkeys(test_name(t.test) for t in tests)) if correctness else None,
    }


def _support_and_contra(results: list[PairedResult], measure: Measure, complete: bool) -> tuple[float | None, float | None]:
    """One-sided p-values for the paper's side of the threshold and for the other; for a measure that ``holds``
    another, the support needs both (intersection-union: the larger p)."""
    sides = _sides(results, measure.metric, measure.threshold, complete)
    if sides is None:
        return None, None
    above, below = sides
    support, contra = (above, below) if measure.direction > 0 else (below, above)
    if measure.holds is not None:
        held = _sides(results, measure.holds, -MEAN_HOLDS_MARGIN, complete)
        support = max(support, held[0]) if held is not None else None
    return support, contra


def _sides(results: list[PairedResult], metric: str, threshold: float, complete: bool) -> tuple[float, float] | None:
    """(p above, p below) the threshold: t over seeds from MIN_SEEDS_FOR_T seeds, else the paired bootstrap."""
    sides = t_sides([r.difference[metric] for r in results], threshold)
    if sides is None and complete:
        sides = bootstrap_sides([r.samples[metric] for r in results], threshold)
    return sides


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(finite)) if finite else None


def _markdown(summary: Summary, found: Sequence[Comparison], frame: pd.DataFrame, problems: list[str],
              paper: Published) -> str:
    lines = [
        "## The paper's claims, tested",
        "",
        *(["On synthetic images the comparisons below check the mechanics only: no verdict is given and nothing is "
           "set against the paper (claims.csv keeps every column).", ""] if summary.results.synthetic else []),
        "Each of the paper's conclusions is stated as a comparison of two sides, a and b, of this run's cells on the "
        "same images (same split and seed, matched by image id); only comparisons whose cells are in the run appear. "
        "This run: the difference a − b (mean ± sd over seeds, n = seeds). The test: Student's t over seeds from "
        f"{MIN_SEEDS_FOR_T} seeds on (it covers retraining and a new split), with its 95% t interval; with fewer "
        "seeds the paired bootstrap, which resamples lesions (each with all its images) and covers only the "
        "evaluated images: such a verdict is about these trained models, not about the recipes, and one seed "
        "settles nothing about the paper's claim. Many claims at once: the family is a claim's verdict rows on one "
        "split; their two-sided p-values are adjusted with Holm's step-down method (Holm 1979; p (Holm)), which "
        "keeps the chance of any false verdict in the family at 5%. Verdict: *supported* when the adjusted p is "
        "below 0.05 and the difference lies on the paper's side of the threshold (0 unless the claim names a "
        f"margin), *contradicted* when it is below 0.05 on the other side, *{NOT_RESOLVED}* otherwise. The 95% "
        "interval shown is not adjusted, so a row whose interval excludes the threshold can still be not resolved "
        "in a larger family. A balance verdict (a smaller spread of per-class scores) is *supported* only when the "
        f"spread falls and the mean per-class measure does not fall by more than {MEAN_HOLDS_MARGIN:g} (both "
        "shown; the larger of the two p-values decides), so a spread cannot be won by losing the best classes. "
        f"\"Nearly as accurate\" is a − b > −{NEARLY_AS_ACCURATE_MARGIN:g}, a margin fixed in advance and apart from "
        "the paper's own gap.",
        "",
    ]
    numbered = list(dict.fromkeys(c.claim for c in found))
    for number, claim in enumerate(numbered, 1):
        statement, source = CLAIMS[claim]
        part = frame[frame["claim"] == claim]
        records = [
            {
                "Comparison": r.comparison,
                "Measure": r.measure + _side_text(r),
                "This run": _value_text(r),
                "95% interval": _interval_text(r),
                "p (Holm)": _p_text(r),
                "Verdict": DASH if r.kind == "ratio" else r.verdict,
                "Paper": _paper_text(r),
            }
            for r in part.itertuples(index=False)
        ]
        if summary.results.synthetic:  # the mechanics only: no verdict, nothing set against the paper
            for record in records:
                del record["Verdict"], record["Paper"]
        labels = [r["Comparison"] for r in records]
        for index in range(len(records) - 1, 0, -1):  # each comparison named on its first row only
            if labels[index] == labels[index - 1]:
                records[index]["Comparison"] = ""
        if part["mcnemar_p"].notna().any():
            for record, p in zip(records, part["mcnemar_p"]):
                record["McNemar p"] = DASH if pd.isna(p) else str(p)
        lines += [f"### {number}. {statement} (paper: {source})", "",
                  pd.DataFrame(records).to_markdown(index=False, disable_numparse=True), ""]
        for comparison in (c for c in found if c.claim == claim):
            cells_a = cells_text(c for s in comparison.seeds for c in s.a)
            cells_b = cells_text(c for s in comparison.seeds for c in s.b)
            lines.append(f"- {comparison.label}: a = {cells_a}; b = {cells_b}.")
            lines += [f"- {note}." for note in comparison.notes]
        lines.append("")
    lines += [
        "- Spread: the standard deviation (ddof 0) of the per-class values over the classes present; the paper's is "
        "derived from its printed per-class values. A class absent from the evaluated images, or from a bootstrap "
        "resample, is left out of every mean and spread, for both sides alike.",
        "- Ratios are this run's means over seeds, a / b, and have no verdict; the paper's parameter counts are what "
        "its source (Paper column) names, this run's the trained models'.",
        "- p (Holm): the row's two-sided p-value adjusted within its family (its claim on its split; family size "
        "in claims.csv `family_size`); the unadjusted `p_value` and the one-sided `p_support` and `p_contra` are "
        "there too. A balance row's support is the larger of the spread's and the mean's non-inferiority p.",
        "- McNemar p (accuracy rows, one per seed), on which images each side gets right: exact where each reported "
        f"lesion has one image ({MCNEMAR_TEST}); clustered where lesions have several ({CLUSTERED_MCNEMAR_TEST}).",
    ]
    if (frame["paper_value"].isna() & frame["paper_a"].notna() & frame["paper_b"].notna()).any():
        lines.append(f"- Paper values without a difference: {paper.version.augmented_note}.")
    if summary.bootstrap_n:
        lines.append(
            f"- Paired bootstrap: {summary.bootstrap_n:,} resamples of the shared lesions (each with all its images, "
            "from the run folder's split file), each drawn once for both sides; with two seeds, of the mean difference "
            "over them (resample r of each seed averaged)."
        )
    else:
        lines.append(f"- No bootstrap (--bootstrap 0): below {MIN_SEEDS_FOR_T} seeds there is no interval, so no verdict.")
    lines += [f"- {problem}" for problem in problems]
    return "\n".join(lines).rstrip() + "\n"


def _value_text(row) -> str:
    if row.kind == "ratio":
        return DASH if pd.isna(row.value) else f"{row.value:.3f}"
    sd = None if pd.isna(row.seed_sd) else row.seed_sd
    return run_text(None if pd.isna(row.value) else row.value, sd, int(row.n_seeds), "+.3f")


def _side_text(row) -> str:
    """The paper's side of a difference, with the measure it also needs to hold (a balance row)."""
    if row.kind == "ratio":
        return ""
    return f" (paper: {row.direction}" + ("" if pd.isna(row.holds) else f"; and {row.holds}") + ")"


def _p_text(row) -> str:
    if row.kind == "ratio" or pd.isna(row.p_holm):
        return DASH
    return f"{row.p_holm:.3g}"


def _interval_text(row) -> str:
    if row.kind == "ratio" or pd.isna(row.ci_low):
        return DASH
    return f"{interval_text(row.ci_low, row.ci_high, '+.3f')} ({row.interval})"


def _paper_text(row) -> str:
    if pd.isna(row.paper_value) and not (pd.isna(row.paper_a) or pd.isna(row.paper_b)):  # not like with like
        return f"{row.paper_a:.2f} and {row.paper_b:.2f}, on different test sets: no difference ({row.paper_source})"
    if pd.isna(row.paper_value):
        return row.paper_source or DASH
    if row.kind == "ratio":
        return f"{row.paper_a:g} / {row.paper_b:g} = {row.paper_value:.3f} ({row.paper_source})"
    return f"{row.paper_a:.2f} vs {row.paper_b:.2f}: {row.paper_value:+.2f} ({row.paper_source})"
