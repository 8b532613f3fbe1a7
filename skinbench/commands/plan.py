"""``--dry-run`` of ``skinbench run`` and ``skinbench ablate``: the plan, printed; nothing built or trained."""

from __future__ import annotations

from pathlib import Path

from skinbench.config import Settings
from skinbench.console import err_console, print_frame
from skinbench.io import gib
from skinbench.paths import cache_root


def print_plan(plans: list, settings: Settings, source, out: Path) -> None:
    """Print every cell's size, epoch cap, estimated GPU time and disk, and the run's totals."""
    from skinbench.models.backbones import get_backbone
    from skinbench.train.plan import describe_reference, fits, plan_run, summary_frame

    n_images, note, fingerprint = _images(source)
    cells = [
        (p.cell.cell_id, p.cell.backbone, p.cell.recipe, p.cell.split, get_backbone(p.cell.backbone).check_size(settings.image_size))
        for p in plans
    ]
    plan = plan_run(cells, settings, n_images=n_images, images_note=note, fingerprint=fingerprint, out=out)
    print_frame(summary_frame(plan), "table", title=f"plan: {len(plan.cells)} cell(s) into {out} (dry run: nothing is trained)")
    measured = [e.gpu_seconds for e in plan.cells if e.gpu_seconds is not None]
    unmeasured = [e.cell_id for e in plan.cells if e.gpu_seconds is None]
    say = lambda text: err_console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"images: {note}")
    if measured:
        say(
            f"estimated GPU time: {sum(measured) / 3600:,.2f} h for {len(measured)} cell(s) at their epoch caps, an "
            "upper bound where early stopping ends a cell sooner; an estimate from the bench of the "
            f"{describe_reference(plan)}"
        )
    if any(p.cell.ablation for p in plans):
        say("ablation rows are estimated with the whole backbone's figure (a cut model computes less)")
    if unmeasured:
        say(f"no GPU measurement for {len(unmeasured)} cell(s) at their image size and precision, left out of the "
            f"estimate: {', '.join(unmeasured[:5])}{' ...' if len(unmeasured) > 5 else ''}")
    for need in plan.disks:
        state = "already there" if need.present else gib(need.nbytes)
        say(f"disk: {need.what}: {state} ({need.folder})")
    folders = {"$SKINBENCH_CACHE": cache_root(), "--out": Path(out)}
    for disk, named in _by_disk(folders).items():
        needed, free, ok = fits(plan, disk)
        names = " and ".join(f"{name} ({folder.absolute()})" for name, folder in named)
        say(f"the disk of {names}: needs {gib(needed)}, has {gib(free)} free: {'fits' if ok else 'DOES NOT FIT'}")


def _by_disk(folders: dict[str, Path]) -> dict[Path, list[tuple[str, Path]]]:
    """The named folders grouped by the file system they are on (keyed by the first folder of each)."""
    from skinbench.train.plan import same_disk

    groups: dict[Path, list[tuple[str, Path]]] = {}
    for name, folder in folders.items():
        key = next((k for k in groups if same_disk(k, folder)), folder)
        groups.setdefault(key, []).append((name, folder))
    return groups


def _images(source) -> tuple[int, str, str | None]:
    """(usable images, where that count comes from, the dataset's fingerprint or None), building nothing."""
    from skinbench.data.ham10000 import load_dataset
    from skinbench.data.synthetic import synthetic_exists, synthetic_folder

    if source.name == "synthetic":
        synthetic = source.synthetic
        if not synthetic_exists(synthetic.count, synthetic.size, synthetic.seed):
            return synthetic.count, f"{synthetic.count:,} synthetic images (not generated yet)", None
        root = synthetic_folder(synthetic.count, synthetic.size, synthetic.seed)
    else:
        root = source.data_dir
    dataset = load_dataset(root)
    dropped = sum(dataset.dropped.values())
    return len(dataset.frame), f"{len(dataset.frame):,} usable images in {root} ({dropped} rows dropped)", dataset.fingerprint
