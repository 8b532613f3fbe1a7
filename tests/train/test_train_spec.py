"""A run started from a run specification file writes what the same flags write."""

from __future__ import annotations

from pathlib import Path

from skinbench.spec import SPEC_FILE, RunSpec, read_options


def test_a_run_from_a_file_writes_what_the_same_flags_write(tmp_path: Path, run_args: list[str], invoke) -> None:
    flags = ["--backbones", "tiny", "--recipes", "metadata", "--epochs", "1", *run_args]
    by_flags = invoke(["run", *flags, "--out", str(tmp_path / "flags")])
    assert by_flags.exit_code == 0, by_flags.output
    printed = invoke(["run", *flags, "--out", str(tmp_path / "file"), "--print-config"])
    path = tmp_path / "study.toml"
    path.write_text(printed.stdout)
    by_file = invoke(["run", "--config", str(path)])
    assert by_file.exit_code == 0, by_file.output
    configs = [sorted((tmp_path / run).glob("*/config.json")) for run in ("flags", "file")]
    assert [p.name for p in configs[0]] and [p.parent.name for p in configs[0]] == [p.parent.name for p in configs[1]]
    for a, b in zip(*configs):
        assert a.read_text() == b.read_text()
    kept = RunSpec.from_options(**read_options(tmp_path / "file" / SPEC_FILE))
    assert kept == RunSpec.from_options(**read_options(path))  # the folder keeps the specification it ran
