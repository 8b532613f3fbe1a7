"""The paper's conclusions, each stated as a comparison of this run's cells, with a verdict.

The claims are data: one entry each in the study's ``studies/do2022/claims.toml`` (read by
``report.claim_data``: the sides, the measures and the paper's direction, the margin, the
multiplicity family and, per version of the paper, its wording and source or why it does not make
the claim). This module turns the entries into comparisons of the run's cells and tests them.

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
comparison and measure of it; claims.toml ``family`` may join claims in one); their two-sided p-values are adjusted with Holm's step-down
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
stated with a margin fixed in advance (claims.toml ``margin``: a - b > -margin), not with
the paper's own gap, so an exact replication can be supported. Where the paper's two numbers
were measured on different test sets (its augmented rows), its values are shown without a
difference. Only comparisons whose cells are in the run appear; each names its cells. A claim
the chosen version does not make is not tested; where its cells are in the run, the report says
so and why, without quoting another version.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd

from skinbench.catalogue import (
    ABLATION_BACKBONE,
    ABLATION_ROWS,
    BACKBONES,
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
from skinbench.report.claim_data import (
    MEASURES,
    PARAMS,
    RATIOS,
    SPREAD,
    Claim,
    ComparisonDef,
    MeasureDef,
    PaperRef,
    Side,
    study_claims,
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
#: A balance verdict also needs the mean per-class measure not to fall by more than this (fixed in advance).
MEAN_HOLDS_MARGIN = 0.02
#: Each spread measure: the printed per-class values it is the sd of, and the mean per-class measure that must
#: hold (MEAN_HOLDS_MARGIN) for a smaller spread to count as balance.
SPREADS = {"f1_spread": ("per-class F1", "macro_f1"), "recall_spread": ("per-class recall", "balanced_accuracy")}
#: What a paper column's source adds: the paper's epoch is not this run's.
COLUMN_NOTES = {"epoch_s": f", epochs of {PAPER_EPOCH_STEPS} steps on a {PAPER_DEVICE}"}
TABLE_NAME = "claims"

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
    _: KW_ONLY  # the rest by name: a bare tuple of numbers is easy to misorder
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
    statement: str = ""  # the chosen version's wording of the claim
    source: str = ""  # where that version says it
    family: str = ""  # claims.toml ``family``: the rows Holm's adjustment takes together, on each split


def decide(p_support: float | None, p_contra: float | None, p_adjusted: float | None) -> str:
    """The verdict rule (module docstring): the side whose one-sided p is the smaller, when the family's
    Holm-adjusted p is below ALPHA; else not resolved."""
    if p_support is None or p_contra is None or p_adjusted is None or p_adjusted >= ALPHA:
        return NOT_RESOLVED
    return SUPPORTED if p_support < p_contra else CONTRADICTED


def comparisons(summary: Summary, paper: Published | None = None) -> list[Comparison]:
    """Every comparison of the claims ``paper``'s version makes (default: the default version's) whose cells
    are in the run, in claims.toml's order, split by split, with that version's wording and values."""
    paper = paper or published()
    made = [c for c in study_claims() if c.versions[paper.version.name].made]
    return _found(summary, made, paper)


def unclaimed(summary: Summary, paper: Published) -> list[Claim]:
    """The claims ``paper``'s version does not make whose cells are in the run (the report says so)."""
    absent = [c for c in study_claims() if not c.versions[paper.version.name].made]
    found = {c.claim for c in _found(summary, absent, paper)}
    return [c for c in absent if c.id in found]


def _found(summary: Summary, claims: Sequence[Claim], paper: Published) -> list[Comparison]:
    found: list[Comparison] = []
    for split in summary.splits:
        cells = _Cells(summary, split)
        for claim in claims:
            found += _claim_comparisons(cells, claim, paper)
    order = [c.id for c in claims]
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
    return _adjusted(frame, {c.claim: c.family for c in found}), problems


def _adjusted(frame: pd.DataFrame, families: dict[str, str]) -> pd.DataFrame:
    """Holm's adjustment within each family (``families``: claim -> family, on each split) of its rows'
    p-values, and the verdicts."""
    frame = frame.astype({"p_support": float, "p_contra": float, "p_value": float, "p_holm": float,
                          "family_size": float, "verdict": object})
    tested = frame["p_value"].notna()
    part = frame[tested]
    for _, family in part.groupby([part["claim"].map(families), part["split"]], sort=False):
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
    found, absent = comparisons(summary, paper), unclaimed(summary, paper)
    if not found and not absent:
        return "", None
    frame, problems = claims_frame(summary, found)
    table = Table(TABLE_NAME, "The paper's claims, tested", frame) if found else None
    return _markdown(summary, found, frame, problems, paper, absent), table


# ---------------------------------------------------------------- a claim's comparisons, from its entry


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

    def suffix(self) -> str:
        return f" [{self.split} split]" if len(self.summary.splits) > 1 else ""

    def backbones(self) -> list[str]:
        found = {b for b, _, _ in self.by_key}
        return [b for b in BACKBONES if b in found] + sorted(found - set(BACKBONES))


#: A paper row's cell: (backbone, recipe, ablation row).
_Member = tuple[str, str, str | None]


def _claim_comparisons(cells: _Cells, claim: Claim, paper: Published) -> list[Comparison]:
    """The claim's comparisons on one split: each of its entry's comparisons, for each backbone or recipe of
    the run where the claim says ``each``."""
    found = []
    for definition in claim.comparisons:
        for bound in _bindings(cells, claim.each):
            a, b = (_bind(side, claim.each, bound) for side in (definition.a, definition.b))
            built = _group_comparison if a.group else _cell_comparison
            found += built(cells, claim, definition, a, b, bound, paper)
    return found


def _bindings(cells: _Cells, each: str | None) -> Sequence[str | None]:
    """What a claim made ``each`` backbone or recipe is made for: the run's backbones, or every recipe."""
    if each == "backbone":
        return cells.backbones()
    return RECIPES.names() if each == "recipe" else [None]


def _bind(side: Side, each: str | None, bound: str | None) -> Side:
    if each == "backbone":
        return replace(side, backbone=bound)
    return replace(side, recipe=bound) if each == "recipe" else side


def _cell_comparison(cells: _Cells, claim: Claim, definition: ComparisonDef, a: Side, b: Side, bound: str | None,
                     paper: Published) -> list[Comparison]:
    """One cell a side at each seed the two sides share."""
    seeds_a, seeds_b = (cells.seeds(s.backbone, s.recipe, s.ablation) for s in (a, b))
    seeds = _paired(seeds_a, seeds_b)
    members = ([(a.backbone, a.recipe, a.ablation)], [(b.backbone, b.recipe, b.ablation)])
    label = _label(claim, bound, _side_name(claim, a), _side_name(claim, b))
    notes = [_recipes_differ(seeds_a, seeds_b)] if claim.recipe_note and seeds else []
    return _comparison(cells, claim, definition, label, seeds, members, paper, notes)


def _group_comparison(cells: _Cells, claim: Claim, definition: ComparisonDef, a: Side, b: Side, bound: str | None,
                      paper: Published) -> list[Comparison]:
    """A depth group against its complement: the run's backbones under one recipe, split by model.json
    ``backbone_depth``, each side the mean over its backbones on the same images.

    Needs its own logic: which backbones form each side depends on the run, and every seed kept must hold the
    same backbones, so that a side's mean is over the same models at every seed (``_common_backbones``).
    """
    depth = a.depth_at_least if a.depth_at_least is not None else a.depth_below
    by_seed: dict[int, dict[str, CellResult]] = {}
    for backbone in cells.backbones():
        for seed, result in cells.seeds(backbone, a.recipe).items():
            if result.values.get("model.backbone_depth") is not None:
                by_seed.setdefault(seed, {})[backbone] = result
    backbones, seeds = _common_backbones(by_seed, depth)
    if not seeds:
        return []
    depths = {b: by_seed[seeds[0]][b].values["model.backbone_depth"] for b in backbones}
    deep = [b for b in backbones if depths[b] >= depth]
    shallow = [b for b in backbones if b not in deep]
    side_a, side_b = (deep, shallow) if a.depth_at_least is not None else (shallow, deep)
    pairs = tuple(
        SeedCells(s, tuple(by_seed[s][x].cell for x in side_a), tuple(by_seed[s][x].cell for x in side_b)) for s in seeds
    )
    members = ([(x, a.recipe, None) for x in side_a], [(x, b.recipe, None) for x in side_b])
    label = _label(claim, bound, _group_name(a, side_a), _group_name(b, side_b))
    note = "depth: model.json backbone_depth, " + ", ".join(f"{display_name(x)} {depths[x]:.0f}" for x in backbones)
    return _comparison(cells, claim, definition, label, pairs, members, paper, [note])


def _common_backbones(by_seed: dict[int, dict[str, CellResult]], depth: int) -> tuple[list[str], list[int]]:
    """One backbone set for every seed: seeds taken by most backbones first, kept while the backbones every
    kept seed has still hold one at least ``depth`` deep and one less deep."""
    order = sorted(by_seed, key=lambda s: (-len(by_seed[s]), s))
    kept: list[int] = []
    common: set[str] = set()
    for seed in order:
        trial = set(by_seed[seed]) if not kept else common & set(by_seed[seed])
        depths = [by_seed[seed][b].values["model.backbone_depth"] for b in trial]
        if any(d >= depth for d in depths) and any(d < depth for d in depths):
            kept.append(seed)
            common = trial
    backbones = [b for b in BACKBONES if b in common] + sorted(common - set(BACKBONES))
    return backbones, sorted(kept)


def _comparison(cells: _Cells, claim: Claim, definition: ComparisonDef, label: str, seeds: tuple[SeedCells, ...],
                members: tuple[list[_Member], list[_Member]], paper: Published, notes: Sequence[str]) -> list[Comparison]:
    if not seeds:
        return []
    version = claim.versions[paper.version.name]
    measures = tuple(
        _measure(claim, m, definition.paper.get(m.metric, m.paper), version.reverse, members, paper) for m in claim.measures
    )
    return [Comparison(claim.id, label + cells.suffix(), cells.split, seeds, measures, tuple(notes),
                       claim.statement_in(paper.version.name), version.source or "", claim.family)]


def _measure(claim: Claim, definition: MeasureDef, ref: PaperRef | None, reverse: bool, members: tuple[list[_Member], list[_Member]],
             paper: Published) -> Measure:
    """One measure of a comparison: the paper's side (turned round where the version claims the sides the other
    way round), the claim's margin, and the version's values."""
    paper_a, paper_b, source = _paper_values(paper, ref, definition.metric, *members)
    if definition.ratio:
        return Measure(definition.metric, paper_a=paper_a, paper_b=paper_b, paper_source=source,
                       paper_like=claim.paper_difference)
    direction = -definition.direction if reverse else definition.direction
    margin = claim.margin
    if margin:
        fixed = f"the margin, {margin:g}, is fixed in advance"
        source = f"{source}; {fixed}, not the paper's gap" if source else fixed
    holds = SPREADS[definition.metric][1] if definition.metric in SPREADS and direction < 0 else None
    return Measure(definition.metric, direction=direction, threshold=-direction * margin if margin else 0.0,
                   paper_a=paper_a, paper_b=paper_b, paper_source=source, holds=holds, paper_like=claim.paper_difference)


def _paper_values(paper: Published, ref: PaperRef | None, metric: str, a: list[_Member], b: list[_Member]
                  ) -> tuple[float | None, float | None, str]:
    """The version's values of each side (a group's: the mean over its backbones) and where they come from;
    (None, None, "") unless both sides have one."""
    if ref is None:
        return None, None, ""
    if ref.column == PARAMS:
        return _paper_params(paper, ref.table_a, _paper_row(ref.table_a, a[0]), _paper_row(ref.table_b, b[0]))
    value_a, value_b = _paper_mean(paper, ref.table_a, ref.column, a), _paper_mean(paper, ref.table_b, ref.column, b)
    if value_a is None or value_b is None:
        return None, None, ""
    source = paper.cite(*ref.tables)
    if ref.column == SPREAD:
        source += f", derived: sd over classes of the printed {SPREADS[metric][0]}"
    if len(a) > 1 or len(b) > 1:
        source += ", mean over the same backbones"
    return value_a, value_b, source + COLUMN_NOTES.get(ref.column, "")


def _paper_mean(paper: Published, table: int, column: str, members: list[_Member]) -> float | None:
    values = [
        _paper_spread(paper, table, row) if column == SPREAD else paper.value(table, row, column)
        for row in (_paper_row(table, m) for m in members)
    ]
    return None if None in values else float(np.mean(values))


def _paper_row(table: int, member: _Member) -> str:
    """A cell's row in one of the paper's tables (``studies.do2022.published``): Table 9's ablation rows by the
    paper's name, Tables 6 and 7's by backbone and recipe, the others' by backbone."""
    backbone, recipe, ablation = member
    if table == 9 and ablation is not None:
        return ABLATION_ROWS[ablation].paper_name
    return f"{display_name(backbone)} + {RECIPES[recipe].label}" if table in (6, 7) else display_name(backbone)


def _paper_spread(paper: Published, table: int, row: str) -> float | None:
    """The sd over classes (ddof 0) of one row's printed per-class values (derived, not printed)."""
    values = [paper.value(table, row, c) for c in CLASSES]
    return None if any(v is None for v in values) else float(np.std(values))


def _paper_params(paper: Published, table: int, small: str, large: str) -> tuple[float | None, float | None, str]:
    """The paper's parameters of the two backbones and what they count, in millions: the table's ``params_m``
    (the Keras applications), else the version's ``trainable_params`` (Table 3: the applications'; 11: the
    models'). Its own rule because the two versions count parameters differently."""
    trainable = "trainable parameters (M) of the " + ("Keras applications" if table == 3 else "models as trained")
    for column, scale, what in (("params_m", 1.0, "the Keras applications"), ("trainable_params", 1e-6, trainable)):
        a, b = paper.value(table, small, column), paper.value(table, large, column)
        if a is not None and b is not None:
            return a * scale, b * scale, f"{paper.cite(table)}, {what}"
    return None, None, ""


def _paired(a: dict[int, CellResult], b: dict[int, CellResult]) -> tuple[SeedCells, ...]:
    return tuple(SeedCells(s, (a[s].cell,), (b[s].cell,)) for s in sorted(a.keys() & b.keys()))


def _label(claim: Claim, bound: str | None, name_a: str, name_b: str) -> str:
    """"<what the claim is made for each of>: <a> (a) − <b> (b)"."""
    prefix = {"backbone": display_name, "recipe": lambda r: RECIPES[r].label}.get(claim.each)
    return (f"{prefix(bound)}: " if prefix else "") + f"{name_a} (a) − {name_b} (b)"


def _side_name(claim: Claim, side: Side) -> str:
    """A side as the tables name it, less what the claim is made for each of: "MobileNetV3Large [:240]",
    "InceptionResNetV2 + Metadata and WeightLoss", or (for each backbone) "Augmented Data"."""
    if side.ablation is not None:
        return _row_name(ABLATION_ROWS[side.ablation])
    if claim.each == "backbone":
        return RECIPES[side.recipe].label
    if claim.each == "recipe":
        return display_name(side.backbone)
    return f"{display_name(side.backbone)} + {RECIPES[side.recipe].label}"


def _group_name(side: Side, backbones: Sequence[str]) -> str:
    rule = f"≥ {side.depth_at_least}" if side.depth_at_least is not None else f"< {side.depth_below}"
    return f"depth {rule} ({', '.join(display_name(b) for b in backbones)})"


def _row_name(row) -> str:
    """An ablation row as the tables name it: "MobileNetV3Large [:240]", "plain MobileNetV3Large"."""
    backbone = display_name(ABLATION_BACKBONE)
    return f"plain {backbone}" if row.label == backbone else f"{backbone} {row.label}"


def _recipes_differ(a: dict[int, CellResult], b: dict[int, CellResult]) -> str:
    """What besides augmentation differs between the two recipes' cells: images per epoch and the loss."""

    def trained(cells: dict[int, CellResult]) -> str:
        images = sorted({int(v) for r in cells.values() if (v := r.values.get("timing.epoch_images")) is not None})
        weights = sorted({r.cell.config.schedule.class_weights or "none" for r in cells.values()})
        return f"{'/'.join(f'{n:,}' for n in images) or 'unknown'} images per epoch, class weights {'/'.join(weights)}"

    return (f"a trained on {trained(a)}; b on {trained(b)}: the verdict compares recipes that differ in the images "
            "seen and the loss, not augmentation alone")


# ---------------------------------------------------------------- rows and Markdown


def _row(summary: Summary, comparison: Comparison, measure: Measure, results: list[PairedResult],
         values: dict[str, CellResult]) -> dict:
    cells_a = [c for s in comparison.seeds for c in s.a]
    cells_b = [c for s in comparison.seeds for c in s.b]
    row = {
        "claim": comparison.claim, "statement": comparison.statement, "source": comparison.source,
        "comparison": comparison.label,
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
              paper: Published, absent: Sequence[Claim]) -> str:
    version = paper.version.name
    entries = {c.id: c for c in study_claims()}
    not_made = [
        f"- Not in this version: {version} does not make the claim `{c.id}` ({c.versions[version].absent}); its cells "
        "are in this run, untested here."
        for c in absent
    ]
    if not found:
        return "\n".join(["## The paper's claims, tested", "", *not_made]) + "\n"
    margins = [
        f"\"{c.margin_for.capitalize()}\" is a − b > −{c.margin:g}, a margin fixed in advance and apart from the paper's "
        "own gap."
        for c in entries.values() if c.margin and c.versions[version].made
    ]
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
        "shown; the larger of the two p-values decides), so a spread cannot be won by losing the best classes."
        + "".join(f" {margin}" for margin in margins),
        "",
    ]
    numbered = list(dict.fromkeys(c.claim for c in found))
    for number, claim in enumerate(numbered, 1):
        first = next(c for c in found if c.claim == claim)
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
        lines += [f"### {number}. {first.statement} (paper: {first.source})", "",
                  pd.DataFrame(records).to_markdown(index=False, disable_numparse=True), ""]
        for comparison in (c for c in found if c.claim == claim):
            cells_a = cells_text(c for s in comparison.seeds for c in s.a)
            cells_b = cells_text(c for s in comparison.seeds for c in s.b)
            lines.append(f"- {comparison.label}: a = {cells_a}; b = {cells_b}.")
            lines += [f"- {note}." for note in comparison.notes]
        note = entries[claim].versions[version].note
        lines += [f"- On this claim, {version}: {note}."] if note else []
        lines.append("")
    lines += [*not_made, *([""] if not_made else []),
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
