"""A run specification resolved: the matrix and profile it runs under, its settings, its data and
the model of each cell.

This is the one path from a ``RunSpec`` to what its cells train with. The submitting command
(``api.prepare``, ``train.runner.run_cells``) and every job of ``--executor local|slurm``
(``train.jobs.CellTask`` carries the RunSpec) resolve it here, so a job rebuilds its cell's
config.json from the specification and its cell exactly as the runner wrote it
(``train.cell.cell_config``). No Keras is imported: a specification is checked before any heavy
import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skinbench import catalogue, config
from skinbench.config import Cell, Matrix, Profile, Settings, Synthetic
from skinbench.errors import RunError
from skinbench.spec import RunSpec


@dataclass(frozen=True)
class DataSource:
    """Where a run's images come from: a HAM10000 folder, or the generated synthetic set."""

    name: str
    data_dir: Path | None
    synthetic: Synthetic
    strict: bool = False  #: unreadable images stop the run instead of being left out

    def root(self, *, progress: bool = True) -> Path:
        """The dataset folder (generating the synthetic one on first use)."""
        if self.name == "synthetic":
            from skinbench.data.synthetic import ensure_synthetic

            synthetic = self.synthetic
            return ensure_synthetic(count=synthetic.count, size=synthetic.size, seed=synthetic.seed, progress=progress)
        if self.name != "ham10000":
            catalogue.check_choice("data.dataset", self.name, catalogue.DATASETS)
        from skinbench.data.ham10000 import check_data_dir

        return check_data_dir(self.data_dir)


@dataclass(frozen=True)
class Resolved:
    """What a specification means before its cells are chosen."""

    matrix: Matrix | None  #: the matrix its cells come from (None: an ablation's rows)
    profile: Profile  #: the defaults its options override
    settings: Settings  #: the profile's settings with the specification's options applied
    source: DataSource  #: the data its cells read


def resolve(spec: RunSpec) -> Resolved:
    """``spec``'s matrix, profile, settings and data, each option checked (RunError naming it)."""
    m = spec.matrix
    if m.ablation is not None:
        matrix, profile = None, config.SMOKE_ABLATION if m.smoke else config.FULL_SCALE
    else:
        matrix = config.MATRICES.get(m.matrix or ("all" if m.backbones else "full"))
        profile = matrix.profile
    data = spec.data
    source = DataSource(_dataset(spec, profile), data.data_dir, profile.synthetic, data.strict)
    return Resolved(matrix, profile, _settings(spec, profile), source)


def _settings(spec: RunSpec, profile: Profile) -> Settings:
    """The profile's settings with every option ``spec`` sets applied."""
    model, training = spec.model, spec.training
    weights = model.weights
    if weights not in (None, "imagenet", "none") and not Path(weights).is_file():
        raise RunError(f"model.weights must be 'imagenet', 'none' or an existing weights file; {weights} is none of these",
                       fields=("model.weights",))
    settings = profile.settings.override(schedule=training.schedule, batch_size=training.batch_size)
    batches = sorted({settings.schedule_for(recipe).batch_size for recipe in catalogue.RECIPES})
    k = training.gradient_accumulation
    if k and any(batch % k for batch in batches):
        raise RunError(f"training.gradient_accumulation {k} does not divide the batch of "
                       f"{' or '.join(map(str, batches))} into equal micro-batches; use a divisor of training.batch_size",
                       fields=("training.gradient_accumulation", "training.batch_size"))
    return profile.settings.override(
        image_size=config.parse_image_size(model.image_size, "model.image_size"),
        epochs=training.epochs,
        batch_size=training.batch_size,
        weights=weights,
        precision=training.precision,
        jit=training.jit or None,
        schedule=training.schedule,
        attention=model.attention,
        deterministic=training.deterministic or None,
        bn_momentum=model.bn_momentum,
        gradient_accumulation=k,
        keep_model=training.keep_models,
    )


def _dataset(spec: RunSpec, profile: Profile) -> str:
    """The data a run reads: ``dataset`` when given; else the real set when ``data_dir`` is; else the
    profile's (the synthetic set for the smoke and demo matrices)."""
    data = spec.data
    if data.dataset is not None:
        return catalogue.check_choice("data.dataset", data.dataset, catalogue.DATASETS)
    return catalogue.REAL if data.data_dir is not None else profile.dataset


@dataclass(frozen=True)
class CellPlan:
    """A cell and the model it trains (an ablation row changes the cut, head or inputs)."""

    cell: Cell
    metadata: bool  #: the model takes the metadata input
    attention: str | None = "paper"
    cut: str | None = None
    extra_dense: int = 0


def plan_for(cell: Cell, settings: Settings) -> CellPlan:
    """The model ``cell`` trains: a matrix cell's recipe decides whether it takes metadata; an ablation
    row (paper Table 9) sets the cut, the head, the metadata input and whether there is soft attention."""
    if cell.ablation is None:
        return CellPlan(cell, metadata=catalogue.RECIPES[cell.recipe].metadata, attention=settings.attention)
    row = catalogue.ABLATION_ROWS[cell.ablation]
    return CellPlan(cell, metadata=row.metadata, attention=settings.attention if row.attention else None,
                    cut=row.cut_key, extra_dense=row.extra_dense)
