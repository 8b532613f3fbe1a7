"""The persistent compilation cache: a second process loads what the first compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    counts = {}
    jax.monitoring.register_event_listener(lambda name, **kw: counts.__setitem__(name, counts.get(name, 0) + 1))
    from skinbench.train import compile_cache
    folder = compile_cache.enable()
    jax.jit(lambda x: (x * 3.0 + 1.0).sum())(jax.numpy.arange(8.0)).block_until_ready()
    print(json.dumps({"folder": str(folder), "hits": counts.get("/jax/compilation_cache/cache_hits", 0),
                      "misses": counts.get("/jax/compilation_cache/cache_misses", 0)}))
    """
)


def _run(cache: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "SKINBENCH_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_compiles_nothing_the_first_compiled(tmp_path: Path) -> None:
    first, second = _run(tmp_path), _run(tmp_path)
    assert first["folder"] == str(tmp_path / "xla")
    assert first["misses"] >= 1 and first["hits"] == 0
    assert second["hits"] == first["misses"] and second["misses"] == 0
    assert any((tmp_path / "xla" / "programs").iterdir())
