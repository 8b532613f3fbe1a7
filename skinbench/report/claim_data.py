"""The paper's claims as typed records, read from the study's data file (``studies/do2022/claims.toml``).

A claim is data: its statement, the sides it compares (which cells), the measures with the paper's
direction, the margin fixed in advance, its multiplicity family and, per version of the paper, where
that version says it (or that it does not). The file's header says what each key means;
``report.claims`` turns the records into comparisons of a run's cells and tests them. A mistake in
the file is one RunError naming the file and the claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from skinbench.catalogue import ABLATION_BACKBONE, ABLATION_ROWS, BACKBONES, METADATA, RECIPES
from skinbench.errors import RunError
from skinbench.spec import tomllib
from skinbench.studies.do2022.versions import VERSIONS

#: The study's claims file, in the package ``skinbench.studies.do2022``.
CLAIMS_FILE = "claims.toml"
STUDY_PACKAGE = "skinbench.studies.do2022"

#: Paired measures (``eval.paired.METRICS`` keys) and their labels: each gets a verdict.
MEASURES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy (mean per-class recall)",
    "macro_f1": "Mean per-class F1",
    "f1_spread": "Spread of per-class F1 (sd over classes)",
    "recall_spread": "Spread of per-class recall (sd over classes)",
}
#: Cost ratios a / b (a cell's values key -> label): measured, without a verdict.
RATIOS = {
    "model.params": "Parameters (trained model), a / b",
    "timing.epoch_s": "Training time per epoch (timing.json epoch_s), a / b",
    "timing.latency_ms_b1": "Latency at batch 1 (timing.json latency_ms_b1), a / b",
}
DIRECTIONS = {"higher": 1, "lower": -1}
#: What a claim's comparisons are made for, one each: every backbone of the run, or every recipe.
EACH = ("backbone", "recipe")
#: Derived paper columns: the sd over the printed per-class values, and the version's parameter count.
SPREAD, PARAMS = "spread", "params"

_CLAIM_KEYS = {"statement", "each", "margin", "margin_for", "family", "paper_difference", "recipe_note", "measures", "comparisons",
               "versions"}
_SIDE_KEYS = {"backbone", "recipe", "ablation", "depth_at_least", "depth_below"}


@dataclass(frozen=True)
class Side:
    """Which cells one side of a comparison takes on one split and seed: one backbone under one recipe (an
    ablation row is the ablation backbone's, under the metadata recipe), or a group of backbones by depth.
    None where the claim's ``each`` fills it in."""

    backbone: str | None = None
    recipe: str | None = None
    ablation: str | None = None
    depth_at_least: int | None = None  # a group: every backbone at least this deep (model.json backbone_depth)
    depth_below: int | None = None  # a group: every backbone less deep than this

    @property
    def group(self) -> bool:
        return self.depth_at_least is not None or self.depth_below is not None


@dataclass(frozen=True)
class PaperRef:
    """Where a measure's paper values are: a table of each side (skinbench's numbering) and a column, or a
    derived column (SPREAD, PARAMS)."""

    table_a: int
    table_b: int
    column: str

    @property
    def tables(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((self.table_a, self.table_b)))


@dataclass(frozen=True)
class MeasureDef:
    """One measure of a claim: ``direction`` +1 or -1 for a paired measure (the paper's side of a - b), 0 for a
    ratio."""

    metric: str
    direction: int
    paper: PaperRef | None = None

    @property
    def ratio(self) -> bool:
        return self.metric in RATIOS


@dataclass(frozen=True)
class ComparisonDef:
    """Side a against side b, and the paper values of this comparison where they differ from the claim's."""

    a: Side
    b: Side
    paper: Mapping[str, PaperRef] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionEntry:
    """What one version of the paper says of a claim: ``source`` None when it does not make it (``absent``
    says why)."""

    source: str | None
    statement: str | None = None
    reverse: bool = False  # the version claims it with the sides the other way round
    note: str = ""
    absent: str = ""

    @property
    def made(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class Claim:
    """One conclusion of the paper (one table of claims.toml)."""

    id: str
    statement: str
    measures: tuple[MeasureDef, ...]
    comparisons: tuple[ComparisonDef, ...]
    versions: Mapping[str, VersionEntry]
    each: str | None = None
    margin: float = 0.0
    margin_for: str = ""  # the words of the statement the margin quantifies ("nearly as accurate")
    family: str = ""
    paper_difference: bool = True
    recipe_note: bool = False

    def statement_in(self, version: str) -> str:
        """The version's wording of the claim."""
        return self.versions[version].statement or self.statement


def read_claims(path: Path) -> tuple[Claim, ...]:
    """The claims of one file, in its order; RunError naming the file and the claim on any mistake."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunError(f"cannot read the claims file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunError(f"{path} is not valid TOML: {exc}") from None
    claims = []
    for claim_id, entry in document.items():
        try:
            claims.append(_claim(claim_id, entry))
        except _Problem as problem:
            raise RunError(f"{path}: claim {claim_id!r}: {problem}") from None
    return tuple(claims)


@lru_cache(maxsize=None)
def study_claims() -> tuple[Claim, ...]:
    """The seed paper's claims (``studies/do2022/claims.toml``)."""
    with resources.as_file(resources.files(STUDY_PACKAGE).joinpath(CLAIMS_FILE)) as path:
        return read_claims(path)


class _Problem(Exception):
    """What is wrong with one claim; read_claims adds the file and the claim."""


def _claim(claim_id: str, entry: Any) -> Claim:
    table = _table(entry, "the claim")
    _known_keys(table, _CLAIM_KEYS, "key")
    each = table.get("each")
    if each is not None and each not in EACH:
        raise _Problem(f"each must be one of {', '.join(EACH)}, not {each!r}")
    measures = tuple(_measure(m) for m in _list(table, "measures"))
    comparisons = tuple(_comparison(c, each) for c in _list(table, "comparisons"))
    for comparison in comparisons:
        for metric in comparison.paper:
            if metric not in {m.metric for m in measures}:
                raise _Problem(f"comparison paper values for {metric!r}, which is not one of the claim's measures")
    margin = float(_typed(table, "margin", (int, float), 0.0))
    margin_for = _typed(table, "margin_for", str, "")
    if margin < 0 or bool(margin) != bool(margin_for):
        raise _Problem("a margin is a number above 0 with margin_for, the words of the statement it quantifies")
    return Claim(
        claim_id, _text(table, "statement"), measures, comparisons, _versions(table.get("versions")), each,
        margin=margin, margin_for=margin_for, family=_typed(table, "family", str, claim_id),
        paper_difference=_typed(table, "paper_difference", bool, True), recipe_note=_typed(table, "recipe_note", bool, False),
    )


def _measure(entry: Any) -> MeasureDef:
    table = _table(entry, "a measure")
    _known_keys(table, {"metric", "direction", "paper"}, "measure key")
    metric = _text(table, "metric")
    if metric not in MEASURES and metric not in RATIOS:
        raise _Problem(f"unknown measure {metric!r}; the measures are {', '.join([*MEASURES, *RATIOS])}")
    direction = table.get("direction")
    if metric in RATIOS:
        if direction is not None:
            raise _Problem(f"{metric!r} is a ratio a / b: it has no direction")
        return MeasureDef(metric, 0, _paper_ref(table.get("paper")))
    if direction not in DIRECTIONS:
        raise _Problem(f"measure {metric!r}: direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    return MeasureDef(metric, DIRECTIONS[direction], _paper_ref(table.get("paper")))


def _paper_ref(entry: Any) -> PaperRef | None:
    if entry is None:
        return None
    table = _table(entry, "paper")
    _known_keys(table, {"table", "column"}, "paper key")
    tables = table.get("table")
    tables = [tables] if isinstance(tables, int) else tables
    if not (isinstance(tables, list) and len(tables) in (1, 2) and all(type(t) is int for t in tables)):
        raise _Problem(f"paper table must be a table number or [table of a, table of b], not {table.get('table')!r}")
    return PaperRef(tables[0], tables[-1], _text(table, "column"))


def _comparison(entry: Any, each: str | None) -> ComparisonDef:
    table = _table(entry, "a comparison")
    _known_keys(table, {"a", "b", "paper"}, "comparison key")
    a, b = (_side(table.get(name), name, each) for name in ("a", "b"))
    if a.group != b.group or (a.group and (a.depth_at_least, b.depth_below) != (b.depth_below, a.depth_at_least)):
        raise _Problem("a depth group is compared with its complement: a = { depth_at_least = N }, b = { depth_below = N }")
    paper = {metric: _paper_ref(ref) for metric, ref in _table(table.get("paper", {}), "paper").items()}
    return ComparisonDef(a, b, paper)


def _side(entry: Any, name: str, each: str | None) -> Side:
    table = _table(entry, f"side {name}")
    _known_keys(table, _SIDE_KEYS, f"key of side {name}")
    backbone, recipe, ablation = (table.get(k) for k in ("backbone", "recipe", "ablation"))
    if backbone is not None and backbone not in BACKBONES.names():
        raise _Problem(f"side {name}: unknown backbone {backbone!r}; the backbones are {', '.join(BACKBONES.names())}")
    if recipe is not None and recipe not in RECIPES.names():
        raise _Problem(f"side {name}: unknown recipe {recipe!r}; the recipes are {', '.join(RECIPES.names())}")
    if ablation is not None:
        if ablation not in ABLATION_ROWS:
            raise _Problem(f"side {name}: unknown ablation row {ablation!r}; the rows are {', '.join(ABLATION_ROWS)}")
        if backbone not in (None, ABLATION_BACKBONE) or recipe not in (None, METADATA):
            raise _Problem(f"side {name}: an ablation row is {ABLATION_BACKBONE} under the {METADATA} recipe")
        backbone, recipe = ABLATION_BACKBONE, METADATA
    depths = {k: _typed(table, k, int, None) for k in ("depth_at_least", "depth_below")}
    side = Side(backbone, recipe, ablation, **depths)
    if side.group and (backbone is not None or (depths["depth_at_least"] is None) == (depths["depth_below"] is None)):
        raise _Problem(f"side {name}: a depth group names no backbone and one of depth_at_least, depth_below")
    for what, named in (("backbone", side.backbone is not None or side.group), ("recipe", side.recipe is not None)):
        if named and each == what:
            raise _Problem(f"side {name} names its {what}, but the claim is made for each {what}")
        if not named and each != what:
            raise _Problem(f"side {name} names no {what}: name one, or make the claim for each {what}")
    return side


def _versions(entry: Any) -> dict[str, VersionEntry]:
    table = _table(entry, "versions")
    _known_keys(table, set(VERSIONS.names()), "paper version")
    versions = {}
    for name in VERSIONS.names():
        if name not in table:
            raise _Problem(f"no [versions.{name}]: say where {name} makes the claim (source) or why not (absent)")
        version = _table(table[name], f"versions.{name}")
        _known_keys(version, {"source", "statement", "reverse", "note", "absent"}, f"key of versions.{name}")
        if ("source" in version) == ("absent" in version):
            raise _Problem(f"versions.{name} has either a source (it makes the claim) or absent (why not)")
        entry = VersionEntry(
            _typed(version, "source", str, None), _typed(version, "statement", str, None),
            _typed(version, "reverse", bool, False), _typed(version, "note", str, ""), _typed(version, "absent", str, ""),
        )
        if entry.reverse and entry.statement is None:
            raise _Problem(f"versions.{name} reverses the claim, so it needs its own statement")
        versions[name] = entry
    return versions


def _table(entry: Any, what: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _Problem(f"{what} must be a table, not {entry!r}")
    return entry


def _list(table: dict[str, Any], key: str) -> list[Any]:
    value = table.get(key)
    if not isinstance(value, list) or not value:
        raise _Problem(f"missing {key!r}: a list of one or more tables")
    return value


def _text(table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"missing {key!r}" if value is None else f"{key!r} must be text, not {value!r}")
    return value


def _typed(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """``table[key]`` when it is of ``kind`` (true and false are not numbers), else ``default`` when absent."""
    if key not in table:
        return default
    value, kinds = table[key], kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise _Problem(f"{key!r} must be {names}, not {value!r}")
    return value


def _known_keys(table: dict[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise _Problem(f"unknown {what} {unknown[0]!r}; expected {', '.join(sorted(known))}")
