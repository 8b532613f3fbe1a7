"""The persistent compilation cache: one small cell trained twice, the second compiling nothing.

Under ``KERAS_BACKEND=jax`` one cell (MobileNetV3Small, metadata recipe, 64 px, one epoch, a
small synthetic HAM10000) is trained into two results folders, each run in its own process,
both with one fresh ``$SKINBENCH_CACHE``. JAX's monitoring events give each run's XLA compile
seconds (backend compilation, plus loading programs from the cache) and its cache hits and
misses. The second run is a rerun, a resumed cell, another seed or a second shard: anything
whose programs the first already compiled.

Usage: python benchmarks/compile_cache.py [--backbone mobilenetv3small] [--image-size 64] [--count 200]
The last line printed is ``ratio: <second/first>`` (compile seconds). Goal: at most 0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: Runs one `skinbench run` in this process and prints its JAX compile events as JSON.
RUN = """
import json, sys
import jax
seconds, counts = {}, {}
jax.monitoring.register_event_duration_secs_listener(lambda name, secs, **kw: seconds.__setitem__(name, seconds.get(name, 0.0) + secs))
jax.monitoring.register_event_listener(lambda name, **kw: counts.__setitem__(name, counts.get(name, 0) + 1))
from typer.testing import CliRunner
from skinbench.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
if result.exit_code:
    sys.exit(result.output)
print(json.dumps({"seconds": seconds, "counts": counts}))
"""
COMPILE = "/jax/core/compile/backend_compile_duration"
RETRIEVE = "/jax/compilation_cache/cache_retrieval_time_sec"
TRACE = "/jax/core/compile/jaxpr_trace_duration"


def run_once(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"the run failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--count", type=int, default=200)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="skinbench-compile-cache-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "KERAS_BACKEND": "jax", "SKINBENCH_CACHE": str(tmp_path / "cache")}
        data = tmp_path / "data"
        subprocess.run([sys.executable, "-m", "skinbench", "data", "synth", str(data), "--count", str(options.count),
                        "--size", "128x96"], check=True, env=env, capture_output=True)
        common = ["run", "--allow-cpu", "--backbones", options.backbone, "--recipes", "metadata", "--epochs", "1", "--data-dir", str(data),
                  "--image-size", str(options.image_size), "--batch-size", "16", "--weights", "none", "--quiet"]
        runs = [run_once([*common, "--out", str(tmp_path / name)], env) for name in ("first", "second")]

    print(f"{options.backbone}, metadata recipe, {options.image_size} px, 1 epoch, {options.count} synthetic images, "
          "KERAS_BACKEND=jax, one fresh compile cache shared by both runs")
    compile_s = []
    for name, run in zip(("first", "second"), runs):
        seconds, counts = run["seconds"], run["counts"]
        total = seconds.get(COMPILE, 0.0) + seconds.get(RETRIEVE, 0.0)
        compile_s.append(total)
        print(f"{name:>6} run: XLA compile {seconds.get(COMPILE, 0.0):.2f} s + cache loads {seconds.get(RETRIEVE, 0.0):.2f} s "
              f"= {total:.2f} s; tracing {seconds.get(TRACE, 0.0):.2f} s (not cached: Python runs each time); "
              f"cache hits {counts.get('/jax/compilation_cache/cache_hits', 0)}, "
              f"misses {counts.get('/jax/compilation_cache/cache_misses', 0)}")
    print(f"ratio: {compile_s[1] / compile_s[0]:.3f}")


if __name__ == "__main__":
    main()
