"""What a rerun into a run folder has left to do, from the folder's records alone (no Keras).

``triage`` says where one cell stands for a rerun: finished, damaged (``train.repair`` repairs it)
or to train. ``nothing_left`` says whether a whole run would do nothing: every cell of its plans
finished, with the settings asked for, on the data the run folder holds, so the command can say
so before any heavy import. Where it cannot tell (a cell to run, a record it cannot read, other
settings, other data) it answers False and the runner decides, as it always did: it trains,
repairs, or refuses with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from skinbench.catalogue import BACKBONES, SYNTHETIC
from skinbench.config import Settings
from skinbench.records import (
    DAMAGED,
    FINISHED,
    PENDING,
    CellConfig,
    CellStatus,
    DataInfo,
    DatasetRecord,
    RecordError,
    cell_damage,
    read_split,
    split_file,
)
from skinbench.train.plan import planned_config
from skinbench.train.resolve import CellPlan


def triage(folder: Path) -> tuple[str, dict[str, str]]:
    """Where a cell of a rerun stands: (FINISHED, {}) whole, (DAMAGED, file -> problem), or
    (PENDING, {}) to train or resume. An unreadable config.json or status.json makes the cell
    damaged whatever it was: its settings or outcome are unknown, so it trains again."""
    unreadable = {}
    for record in (CellConfig, CellStatus):
        try:
            record.read_if_present(folder)
        except RecordError as exc:
            unreadable[record.FILE] = str(exc)
    if unreadable:
        return DAMAGED, unreadable
    status = CellStatus.read_if_present(folder)
    if status is None or status.status != FINISHED:
        return PENDING, {}
    problems = cell_damage(folder)
    return (DAMAGED, problems) if problems else (FINISHED, {})


def nothing_left(
    plans: Sequence[CellPlan], settings: Settings, source: str, root: Callable[[], Path], out: Path, *, backend: str
) -> bool:
    """Whether running ``plans`` into ``out`` would train and repair nothing: every cell is finished and
    whole, its config.json what these settings make on the data of the folder ``root()`` (of the
    dataset named ``source``), and that data the run folder's (data.json's fingerprint).

    ``root`` is called only once every cell is found finished (it may generate the synthetic set).
    """
    from skinbench.data.ham10000 import load_dataset

    out = Path(out)
    if not plans or any(triage(out / plan.cell.cell_id)[0] != FINISHED for plan in plans):
        return False
    try:
        described = DataInfo.read_if_present(out)
        dataset = load_dataset(root(), require_metadata=any(plan.metadata for plan in plans))
        record = DatasetRecord(source, source == SYNTHETIC, str(dataset.root), len(dataset.frame), dataset.fingerprint)
        for plan in plans:
            cell = plan.cell
            split = read_split(out / split_file(cell.split, cell.seed))
            expected = planned_config(
                plan, settings, BACKBONES[cell.backbone].check_size(settings.image_size),
                n_train=int((split["part"] == "train").sum()), dataset=record, backend=backend,
            )
            if CellConfig.read(out / cell.cell_id).differences(expected):
                return False
    except (OSError, RecordError):
        return False
    return described is not None and described.fingerprint == dataset.fingerprint
