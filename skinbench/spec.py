"""One run specification: what a run trains, on what, how, where, and into which folder.

A ``RunSpec`` is typed and frozen, in five sections (data, model, training, execution, matrix).
It is built from the command line's options (``RunSpec.from_options``), from a TOML or YAML file
(``read_options``: the file's values are the options' defaults, so flags given beside
``--config`` override them), and from Python (``RunSpec(matrix=MatrixSection(...))``). Each
field is one option: the field ``bn_momentum`` of the training section is ``--bn-momentum``,
and a file writes it as ``[training] bn_momentum = 0.9``. ``to_toml`` writes the specification
back, so ``skinbench run --print-config`` gives a file that ``--config`` reads to the same
specification. A run folder keeps the specification it was started with in ``run.toml``.

Values are checked where they are used (``skinbench.api``, ``train.resolve``), with errors naming
the field as ``section.field`` (``model.weights``) and carrying it (``SkinbenchError.fields``);
``skinbench run`` says each as its flag (``commands.run.FLAGS``).
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from skinbench.errors import RunError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

#: The file a run folder keeps its specification in.
SPEC_FILE = "run.toml"


@dataclass(frozen=True)
class DataSection:
    """Which images, how they are split, and how strictly they are read."""

    dataset: str | None = None  #: 'ham10000' or 'synthetic' (None: the matrix's, unless data_dir is given)
    data_dir: Path | None = None  #: the HAM10000 folder (None: the default place)
    split: str = "paper"  #: a key of catalogue.SPLITS
    strict: bool = False  #: an unreadable image stops the run


@dataclass(frozen=True)
class MatrixSection:
    """Which cells: a matrix or an ablation, filtered, under which seeds, in which shard."""

    matrix: str | None = None  #: a name of config.MATRICES (None: 'full', or 'all' with backbones)
    ablation: str | None = None  #: an ablation (catalogue.ABLATIONS) in place of a matrix
    backbones: str | None = None  #: comma-separated registry names
    recipes: str | None = None  #: comma-separated recipes
    cuts: str | None = None  #: the ablation's rows, as comma-separated layer numbers
    smoke: bool = False  #: the ablation under the smoke settings
    seeds: str | None = None  #: comma-separated seeds (overrides seed)
    seed: int = 0
    shard: str | None = None  #: 'K/N': this invocation's share of the cells


@dataclass(frozen=True)
class ModelSection:
    """The network: input size, initial weights, soft attention, BatchNorm momentum."""

    image_size: str | None = None  #: 'native' or a side length (None: the profile's)
    weights: str | None = None  #: 'imagenet', 'none' or a weights file (None: the profile's)
    attention: str = "paper"  #: 'paper' or 'reference'
    bn_momentum: float | None = None  #: every BatchNormalization layer's momentum (None: the backbone's own)


@dataclass(frozen=True)
class TrainingSection:
    """How each cell trains."""

    schedule: str = "paper"  #: a key of config.SCHEDULES
    epochs: int | None = None  #: None: the schedule's cap
    batch_size: int | None = None  #: None: the schedule's batch for the recipe
    precision: str | None = None  #: None: the profile's (float32)
    jit: bool = False
    deterministic: bool = False
    gradient_accumulation: int | None = None
    keep_models: bool = True


@dataclass(frozen=True)
class ExecutionSection:
    """Where the cells run and where their results go."""

    executor: str = "inline"  #: 'inline', 'local' or 'slurm'
    jobs: int | None = None
    wait: bool = False
    partition: str | None = None
    time_limit: str | None = None  #: --time
    gpus_per_cell: int | None = None
    cpus_per_cell: int | None = None
    mem: str | None = None
    array_parallelism: int | None = None
    slurm_option: tuple[str, ...] = ()  #: KEY=VALUE sbatch options
    allow_cpu: bool = False
    out: Path | None = None  #: the run folder (None: results/<matrix or ablation>)
    quiet: bool = False


SECTIONS: dict[str, type] = {
    "data": DataSection,
    "model": ModelSection,
    "training": TrainingSection,
    "execution": ExecutionSection,
    "matrix": MatrixSection,
}


@dataclass(frozen=True)
class RunSpec:
    """Every setting of a run, in its sections (each field is one command-line option)."""

    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    execution: ExecutionSection = field(default_factory=ExecutionSection)
    matrix: MatrixSection = field(default_factory=MatrixSection)

    @classmethod
    def from_options(cls, **options: Any) -> RunSpec:
        """The specification of the options by field name (as the command line passes them);
        an unknown name is a RunError naming it."""
        unknown = set(options) - set(OPTION_SECTION)
        if unknown:
            raise RunError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        sections = {}
        for section, kind in SECTIONS.items():
            # None for a field with another default is "not given" (the command line's empty list).
            values = {f.name: options[f.name] for f in dataclasses.fields(kind)
                      if f.name in options and (options[f.name] is not None or f.default is None)}
            sections[section] = kind(**_typed(kind, values))
        return cls(**sections)

    def options(self) -> dict[str, Any]:
        """Every field by name: ``RunSpec.from_options(**spec.options()) == spec``."""
        return {f.name: getattr(getattr(self, section), f.name) for section, f in _fields()}

    def replace(self, **options: Any) -> RunSpec:
        """A copy with the options given (by field name) replaced."""
        return RunSpec.from_options(**{**self.options(), **options})

    def to_toml(self) -> str:
        """The specification as TOML, by section; unset (None) values are left out, as TOML has no null."""
        import tomli_w

        document = {
            section: {k: _plain(v) for k, v in dataclasses.asdict(getattr(self, section)).items() if v is not None}
            for section in SECTIONS
        }
        return tomli_w.dumps(document)


def _fields() -> Iterator[tuple[str, dataclasses.Field]]:
    for section, kind in SECTIONS.items():
        for f in dataclasses.fields(kind):
            yield section, f


#: Each option's section (field names are unique across sections).
OPTION_SECTION: dict[str, str] = {f.name: section for section, f in _fields()}


def _plain(value: Any) -> Any:
    """A value as TOML writes it (paths as strings, tuples as arrays)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _typed(kind: type, values: dict[str, Any]) -> dict[str, Any]:
    """Paths as ``Path`` and lists as tuples, so a specification read from a file equals one from flags."""
    typed = dict(values)
    for name, hint in typing.get_type_hints(kind).items():
        value = typed.get(name)
        if value is None:
            continue
        if Path in typing.get_args(hint):
            typed[name] = Path(value)
        elif typing.get_origin(hint) is tuple:
            typed[name] = tuple(value)
    return typed


def read_options(path: Path) -> dict[str, Any]:
    """The options a TOML (``.toml``) or YAML (``.yaml``, ``.yml``) file sets, by field name.

    A file has the sections of ``RunSpec`` (``[data]``, ``[model]``, ...); a comma-separated
    option may be written as a list. An unknown section or key, or a file that does not parse,
    is a RunError naming the file and what is wrong.
    """
    path = Path(path)
    document = _parse(path)
    options: dict[str, Any] = {}
    for section, values in document.items():
        if section not in SECTIONS:
            raise RunError(f"{path}: unknown section [{section}]; the sections are {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise RunError(f"{path}: [{section}] must be a table of options, not {values!r}")
        for key, value in values.items():
            if OPTION_SECTION.get(key) != section:
                where = f" (it belongs in [{OPTION_SECTION[key]}])" if key in OPTION_SECTION else ""
                raise RunError(f"{path}: [{section}] has no option {key!r}{where}")
            options[key] = _joined(key, value)
    return options


def _joined(key: str, value: Any) -> Any:
    """A list written for a comma-separated option, joined as the flag takes it."""
    if isinstance(value, list) and OPTION_SECTION[key] == "matrix":
        return ",".join(str(item) for item in value)
    return value


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot read the run specification {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            document = yaml.safe_load(text) or {}
            if not isinstance(document, dict):
                raise RunError(f"{path}: a run specification is a mapping of sections, not {type(document).__name__}")
            return document
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise RunError(f"{path} is not valid {suffix[1:].upper()}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError, without importing yaml to name it
        if type(exc).__module__.startswith("yaml"):
            raise RunError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        raise
    raise RunError(f"{path}: a run specification is a .toml, .yaml or .yml file")
