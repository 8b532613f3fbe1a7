"""Time the synthetic HAM10000 generator: 10,015 images at 600x450 (target: under 3 minutes on 2 cores).

    python benchmarks/synth_speed.py [--count 10015] [--size 600x450] [--workers 2]

Prints the settings, the wall time and the measured images/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from skinbench.data.synthetic import generate

TARGET_S = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10015)
    parser.add_argument("--size", default="600x450", help="WIDTHxHEIGHT")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = generate(Path(tmp) / "synthetic", count=args.count, size=(width, height), seed=args.seed,
                          workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
        megabytes = sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 2**20
    cpu = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))

    print(f"machine: {os.cpu_count()} cores, load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after; "
          f"workers: {args.workers}; seed: {args.seed}")
    print(f"generated {args.count:,} images at {width}x{height} ({megabytes:.0f} MiB of JPEG) in {seconds:.1f} s")
    print(f"{args.count / seconds:.1f} images/s; {cpu:.0f} CPU-seconds in all "
          f"({cpu / min(args.workers, os.cpu_count() or 1):.0f} s of wall time on otherwise idle cores)")
    if (args.count, width, height) == (10015, 600, 450):
        verdict = "within" if seconds < TARGET_S else "OVER"
        print(f"{verdict} the {TARGET_S:.0f} s target for the full-size set")


if __name__ == "__main__":
    main()
