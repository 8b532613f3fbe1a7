"""Run chunks of image work on a few processes behind one rich progress bar.

Used by the synthetic generator, the image cache, offline augmentation and `data check`.
Workers are started with ``spawn``: the parent may already hold TensorFlow or JAX threads,
which ``fork`` would copy in a broken state.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from skinbench.console import err_console

#: One process per core (2 on a laptop-class machine, 16 on a GPU server); output bytes do not
#: depend on the count.
DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 16))
PARALLEL_MIN = 1000  # fewer items than this run in-process: worker start-up would cost more


def progress_bar(enabled: bool) -> Progress | nullcontext:
    """A rich progress bar on stderr, or a do-nothing context when ``enabled`` is false."""
    if not enabled:
        return nullcontext()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


def run_chunks(
    func: Callable[..., Any],
    chunks: Sequence[tuple],
    sizes: Sequence[int],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
    description: str = "working",
) -> list[Any]:
    """Return ``[func(*chunk) for chunk in chunks]``, computed on up to ``workers`` processes.

    ``func`` must be a module-level function (it is pickled). ``sizes[i]`` is how many items
    chunk ``i`` holds, for the progress bar. With one worker, one chunk or fewer than
    ``PARALLEL_MIN`` items everything runs in this process.
    """
    results: list[Any] = [None] * len(chunks)
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=sum(sizes)) if bar else None
        if workers <= 1 or len(chunks) <= 1 or sum(sizes) < PARALLEL_MIN:
            for i, chunk in enumerate(chunks):
                results[i] = func(*chunk)
                if bar:
                    bar.advance(task, sizes[i])
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(func, *chunk): i for i, chunk in enumerate(chunks)}
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    results[i] = future.result()
                    if bar:
                        bar.advance(task, sizes[i])
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return results


def split_even(n: int, parts: int) -> list[range]:
    """Split ``range(n)`` into ``parts`` contiguous, nearly equal, non-empty ranges."""
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(parts)]


def build_atomically(folder: Path, fill: Callable[[Path], None], marker: str) -> None:
    """Run ``fill(tmp)`` on a new temporary folder beside ``folder``, then rename it to ``folder``.

    An empty or unfinished ``folder`` (no ``marker`` file) is replaced. If another process
    finished ``folder`` first, that copy is kept and this one discarded.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        fill(tmp)
        if folder.is_dir() and not (folder / marker).exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError:
        if not (folder / marker).exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
