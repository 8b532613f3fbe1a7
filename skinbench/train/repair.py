"""Finished cells whose files are damaged, repaired by the same ``skinbench run`` command.

``records.cell_damage`` names what is missing, unreadable or changed in a finished cell's folder
(every record the report reads, predictions.csv against the rows and SHA-256 in metrics.json,
the kept model). When only predictions.csv and metrics.json are damaged and the cell kept a
whole model, that model is evaluated again on the reported part, which writes both files anew
without training (``reevaluate``). Otherwise the cell's results are set aside (``discard``) and it
trains again from the start. Either happens under the cell's lock (``train.celllock``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from skinbench.config import Settings
from skinbench.records import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    PREDICTIONS_FILE,
    REPAIR,
    CellConfig,
    CellMetrics,
    CellStatus,
    InferenceInfo,
)
from skinbench.train.cell import error_text
from skinbench.train.celllock import cell_lock, try_lock
from skinbench.train.resolve import CellPlan
from skinbench.train.rundata import RunData
from skinbench.train.state import Checkpoint

#: The files a kept model's evaluation writes anew.
REEVALUATED = frozenset({PREDICTIONS_FILE, CellMetrics.FILE})


def repair_cells(
    damaged: dict[str, tuple[CellPlan, dict[str, str]]],
    configs: dict[str, CellConfig],
    settings: Settings,
    data: RunData,
    out: Path,
    log: Callable[[str], None],
) -> tuple[list[str], list[CellPlan]]:
    """Repair each damaged cell (cell id -> its plan and problems, from ``train.left.triage``): the cells whose
    kept model was evaluated again, and the plans of those that must train again, their results set
    aside. A cell another process holds is left to it."""
    repaired, retrain = [], []
    for cell_id, (plan, problems) in damaged.items():
        folder = out / cell_id
        what = _without_remedy(next(iter(problems.values())))
        lock = cell_lock(folder)
        if not try_lock(lock):
            log(f"{cell_id}: damaged ({what}); another process holds it, so this run leaves it to that one")
            continue
        try:
            if set(problems) <= REEVALUATED and (folder / InferenceInfo.FILE).exists():
                log(f"{cell_id}: damaged ({what}); evaluating its kept model again")
                try:
                    metrics = reevaluate(plan, configs[cell_id], settings, data, folder)
                except Exception as exc:  # the model cannot be loaded or run: training again repairs it
                    log(f"{cell_id}: its kept model cannot be evaluated ({error_text(exc)}); training it again")
                else:
                    log(f"{cell_id}: repaired, balanced accuracy {metrics.values['balanced_accuracy']:.3f} on {metrics.part}")
                    repaired.append(cell_id)
                    continue
            else:
                log(f"{cell_id}: damaged ({what}); training it again")
            discard(folder)
            retrain.append(plan)
        finally:
            lock.release()
    return repaired, retrain


def reevaluate(plan: CellPlan, config: CellConfig, settings: Settings, data: RunData, folder: Path) -> CellMetrics:
    """Predict the reported part with the cell's kept model; write predictions.csv and metrics.json anew."""
    import keras

    import skinbench.models.build  # noqa: F401  (registers SoftAttention and the preprocessing layer)
    from skinbench.train.predictor import Predictor
    from skinbench.train.trainer import jit_compile, write_evaluation

    cell = plan.cell
    model = keras.saving.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
    try:
        inputs = data.inputs(cell, config)
        probs = Predictor(model, jit=jit_compile(settings.jit)).probabilities(inputs.report)
        metrics = write_evaluation(folder, inputs, probs)
    finally:
        keras.backend.clear_session(free_memory=True)
    return metrics


def discard(folder: Path) -> None:
    """Make a finished cell train again from the start: its status, checkpoint and kept model go
    (the kept model would not be the new training's); its other files are rewritten by the training."""
    (folder / CellStatus.FILE).unlink(missing_ok=True)
    Checkpoint(folder / CHECKPOINT_DIR).remove()
    for name in (MODEL_FILE, InferenceInfo.FILE):
        (folder / name).unlink(missing_ok=True)


def _without_remedy(problem: str) -> str:
    """A ``cell_damage`` line without its remedy (this run is the remedy)."""
    for joint in ("; ", ": "):
        problem = problem.removesuffix(f"{joint}{REPAIR}")
    return problem
