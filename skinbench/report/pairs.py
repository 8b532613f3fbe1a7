"""Cells compared on the same images, read from run folders: ``skinbench compare`` and the claims table.

Pairing rule (``match``). Two cells can be compared image by image only when they report on
the same images, so a pair always has the same split and the same seed (each seed has one
split, shared by every cell of that seed). Beyond that, a field the two groups share a value
of is held equal, and a field on which the groups have no value in common is the one being
compared. The fields are the backbone and the variant (the recipe, or the ablation row of
an ablation cell): ``--a '*-metadata-*' --b '*-augmented-*'`` share backbones, so each
backbone's metadata cell pairs with its augmented cell; ``--a 'mobilenetv3large-*' --b
'inceptionresnetv2-*'`` share recipes, so each recipe (and each ablation row both have) pairs
across the two backbones; two groups that share neither pair every cell of one with every
cell of the other, of the same split and seed. One cell may so be in several pairs. A cell in
both groups, groups of different splits, and groups with no pair are each refused with one
message.
"""

from __future__ import annotations

import fnmatch
import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from skinbench.errors import RunError
from skinbench.eval.paired import (
    CLUSTERED_MCNEMAR_TEST,
    MCNEMAR_TEST,
    PAIRED_METRICS,
    PairedResult,
    align,
    compare_paired,
    over_seeds,
    percentile_interval,
)
from skinbench.eval.predictions import read_predictions
from skinbench.records import FINISHED, PREDICTIONS_FILE, RecordError
from skinbench.report.runs import CellFolder, Results

#: The metric the paired test of correctness (McNemar) belongs with: it tests which images each cell gets
#: right, which is accuracy; beside balanced accuracy or F1 it could stand next to a difference of the other sign.
CORRECTNESS_METRIC = "accuracy"
#: The fields a pair may hold equal (split and seed always are).
FIELDS = ("backbone", "variant")


def variant(cell: CellFolder) -> str:
    """The recipe, or ``ablation-<row>`` for an ablation cell (the middle of its cell id)."""
    return f"ablation-{cell.ablation}" if cell.ablation else cell.recipe


def group_id(cell: CellFolder) -> str:
    """The cell id without its seed: ``densenet201-metadata-paper``."""
    return f"{cell.backbone}-{variant(cell)}-{cell.split}"


def cells_text(cells: Iterable[CellFolder]) -> str:
    """Cell ids, the seeds of one group folded: ``densenet201-metadata-paper-s{0,1}; resnet50-metadata-paper-s0``."""
    seeds: dict[str, list[int]] = {}
    for cell in cells:
        seeds.setdefault(group_id(cell), []).append(cell.seed)
    parts = []
    for group, found in seeds.items():
        found = sorted(set(found))
        parts.append(f"{group}-s{found[0]}" if len(found) == 1 else f"{group}-s{{{','.join(map(str, found))}}}")
    return "; ".join(parts)


class Predictions:
    """Each cell's predictions.csv (image ids, labels, probabilities), read once."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, cell: CellFolder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if cell.cell_id not in self._read:
            path = cell.path / PREDICTIONS_FILE
            try:
                self._read[cell.cell_id] = read_predictions(path)
            except (OSError, ValueError) as exc:
                raise RecordError(f"{path}: cannot read ({exc})") from None
        return self._read[cell.cell_id]

    def compare(
        self, a: Sequence[CellFolder], b: Sequence[CellFolder], *, n: int, base_seed: int = 0
    ) -> PairedResult:
        """The paired comparison of side ``a`` and side ``b`` (one cell or several each) on their shared images.

        Every cell must hold the same images (RunError otherwise). The bootstrap stream is
        ``pair_stream(base_seed, a, b)``; it resamples lesions (the run folder's split file), and
        the test of correctness respects them (``eval.paired.mcnemar``).
        """
        cells = [*a, *b]
        aligned = align([self(c) for c in cells], [c.cell_id for c in cells])
        probs_a, probs_b = aligned.probs[: len(a)], aligned.probs[len(a):]
        return compare_paired(
            aligned.y_true,
            probs_a[0] if len(a) == 1 else list(probs_a),
            probs_b[0] if len(b) == 1 else list(probs_b),
            n=n,
            seed=pair_stream(base_seed, a, b),
            clusters=cells[0].lesions(aligned.image_ids),  # one split and seed: every cell's lesions are the same
        )


def pair_stream(base_seed: int, a: Sequence[CellFolder], b: Sequence[CellFolder]) -> np.random.SeedSequence:
    """The bootstrap stream of one comparison: SeedSequence([base, CRC-32 of a's ids, CRC-32 of b's ids])."""
    def crc(cells: Sequence[CellFolder]) -> int:
        return zlib.crc32(",".join(c.cell_id for c in cells).encode("utf-8"))

    return np.random.SeedSequence([base_seed, crc(a), crc(b)])


def select(results: Results, pattern: str, option: str) -> list[CellFolder]:
    """The cells whose id matches the fnmatch ``pattern``; RunError naming what exists when none does."""
    found = [c for c in results.cells if fnmatch.fnmatchcase(c.cell_id, pattern)]
    if not found:
        known = [c.cell_id for c in results.cells]
        listed = ", ".join(known[:6]) + (f" and {len(known) - 6} more" if len(known) > 6 else "")
        raise RunError(
            f"{option} {pattern!r} matches no cell of {', '.join(str(f) for f in results.folders)}; "
            f"patterns match whole cell ids (quote them, use * for any part), e.g. '*-metadata-*'; "
            f"the cells there: {listed or 'none'}"
        )
    return found


def _value(cell: CellFolder, field: str) -> str:
    return variant(cell) if field == "variant" else getattr(cell, field)


def held_equal(a: Sequence[CellFolder], b: Sequence[CellFolder]) -> list[str]:
    """The fields of FIELDS that a pair holds equal: those of which the two groups share a value."""
    return [f for f in FIELDS if {_value(c, f) for c in a} & {_value(c, f) for c in b}]


def match(a: Sequence[CellFolder], b: Sequence[CellFolder]) -> list[tuple[CellFolder, CellFolder]]:
    """Every pair (cell of ``a``, cell of ``b``) of the pairing rule (module docstring), in id order."""
    both = sorted({c.cell_id for c in a} & {c.cell_id for c in b})
    if both:
        raise RunError(
            f"--a and --b both match {', '.join(both)}; make the patterns select different cells "
            "(e.g. '*-ablation-cut230-paper-*' rather than '*-ablation-cut230-*', which also matches cut230-nometa)"
        )
    splits_a, splits_b = {c.split for c in a}, {c.split for c in b}
    if not splits_a & splits_b:
        raise RunError(
            f"--a selects {', '.join(sorted(splits_a))}-split cells and --b {', '.join(sorted(splits_b))}-split "
            "cells: different splits report on different images, so they cannot be paired image by image; "
            "'skinbench report' measures the paper split against the lesion split in its leak table"
        )
    fields = held_equal(a, b)
    pairs = [
        (x, y)
        for x in sorted(a, key=lambda c: c.cell_id)
        for y in sorted(b, key=lambda c: c.cell_id)
        if x.split == y.split and x.seed == y.seed and all(_value(x, f) == _value(y, f) for f in fields)
    ]
    if not pairs:
        held = ", ".join(["split", "seed", *fields])
        raise RunError(
            f"no cell of --a has a partner in --b: a pair needs the same {held}; --a has "
            f"{cells_text(a)} and --b has {cells_text(b)}"
        )
    return pairs


#: Columns of ``compare``'s frame (the CSV of ``skinbench compare --out``).
COMPARE_COLUMNS = (
    "a", "b", "split", "seeds", "metric", "n_images", "value_a", "value_b", "difference", "difference_sd",
    "ci_low", "ci_high", "t_low", "t_high", "a_only_correct", "b_only_correct", "mcnemar_p", "mcnemar_test",
)


@dataclass(frozen=True)
class Comparison:
    """What ``skinbench compare`` prints and writes."""

    frame: pd.DataFrame  # COMPARE_COLUMNS: one row per pair and metric, then per compared group over seeds
    unpaired: tuple[str, ...]  # finished cells of either group that have no partner
    unfinished: tuple[str, ...]  # cells the patterns match that did not finish (left out)
    bootstrap_n: int
    notes: tuple[str, ...]


def compare(results: Results, pattern_a: str, pattern_b: str, *, bootstrap: int = 1000, base_seed: int = 0) -> Comparison:
    """Pair the cells of two fnmatch patterns (the pairing rule above) and compare each pair on its images."""
    matched_a, matched_b = select(results, pattern_a, "--a"), select(results, pattern_b, "--b")
    unfinished = tuple(c.cell_id for c in [*matched_a, *matched_b] if c.status != FINISHED)
    a = [c for c in matched_a if c.status == FINISHED]
    b = [c for c in matched_b if c.status == FINISHED]
    for cells, option, pattern in ((a, "--a", pattern_a), (b, "--b", pattern_b)):
        if not cells:
            raise RunError(f"{option} {pattern!r} matches only cells that did not finish ({', '.join(unfinished)})")
    pairs = match(a, b)
    predictions = Predictions()
    rows: list[dict] = []
    groups: dict[tuple[str, str], list[tuple[CellFolder, CellFolder, PairedResult]]] = {}
    for x, y in pairs:
        result = predictions.compare([x], [y], n=bootstrap, base_seed=base_seed)
        groups.setdefault((group_id(x), group_id(y)), []).append((x, y, result))
        for metric in PAIRED_METRICS:
            low, high = result.interval[metric]
            row = {
                "a": x.cell_id, "b": y.cell_id, "split": x.split, "seeds": str(x.seed), "metric": metric,
                "n_images": result.n_images, "value_a": result.a[metric], "value_b": result.b[metric],
                "difference": result.difference[metric], "ci_low": low, "ci_high": high,
            }
            if metric == CORRECTNESS_METRIC:  # the test is about correctness, so it belongs to accuracy alone
                row |= {"a_only_correct": result.mcnemar.a_only, "b_only_correct": result.mcnemar.b_only,
                        "mcnemar_p": result.mcnemar.p_value, "mcnemar_test": test_name(result.mcnemar.test)}
            rows.append(row)
    for members in groups.values():
        if len(members) < 2:
            continue
        for metric in PAIRED_METRICS:
            rows.append(_over_seeds_row(members, metric))
    frame = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    paired = {c.cell_id for pair in pairs for c in pair}
    unpaired = tuple(sorted(c.cell_id for c in [*a, *b] if c.cell_id not in paired))
    return Comparison(frame, unpaired, unfinished, bootstrap, _notes(bootstrap, held_equal(a, b)))


def _over_seeds_row(members: list[tuple[CellFolder, CellFolder, PairedResult]], metric: str) -> dict:
    """One compared group over its seeds: mean values and difference, sd, bootstrap and t intervals."""
    xs, ys, results = zip(*members)
    summary = over_seeds([r.difference[metric] for r in results])
    samples = [r.samples[metric] for r in results if r.samples is not None]
    low, high = percentile_interval(samples) if len(samples) == len(results) else (None, None)
    return {
        "a": cells_text(xs), "b": cells_text(ys), "split": xs[0].split,
        "seeds": ",".join(str(x.seed) for x in xs), "metric": metric, "n_images": None,
        "value_a": float(np.mean([r.a[metric] for r in results])), "value_b": float(np.mean([r.b[metric] for r in results])),
        "difference": summary.mean, "difference_sd": summary.std, "ci_low": low, "ci_high": high,
        "t_low": summary.t_low, "t_high": summary.t_high,
    }


def test_name(test: str) -> str:
    """A test of correctness as the compare table names it: exact or clustered."""
    return "clustered" if test == CLUSTERED_MCNEMAR_TEST else "exact"


def _notes(bootstrap: int, fields: list[str]) -> tuple[str, ...]:
    held = ", ".join(["split", "seed", *fields])
    notes = [f"Pairs hold equal: {held} (the fields both groups share a value of; see 'skinbench compare --help')."]
    if bootstrap:
        notes.append(
            f"ci: 95% paired bootstrap, {bootstrap:,} resamples of the shared lesions (each with all its images, "
            "from the run folder's split file), drawn once for both cells (over seeds: of the mean difference); it "
            "covers the images only, not retraining or another split."
        )
    else:
        notes.append("ci: none (--bootstrap 0).")
    notes += [
        "t: 95% Student t interval of the mean difference over seeds (scipy.stats.t), from 3 seeds on; "
        "it covers retraining and a new split per seed.",
        f"McNemar p (accuracy rows), on which images each cell classifies correctly: exact where each reported "
        f"lesion has one image ({MCNEMAR_TEST}); clustered where lesions have several ({CLUSTERED_MCNEMAR_TEST}). "
        "The column mcnemar_test says which ran.",
    ]
    return tuple(notes)
