"""The options of --executor: each checked against its executor before anything runs, one line per mistake."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from skinbench.cli import app
from skinbench.errors import RunError
from skinbench.train.executors import Execution, local_slots, memory_environment, parse_execution, parse_time, slurm_parameters


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--executor", "slurm", "--jobs", "2"], "--jobs: for --executor local only"),
        (["--executor", "local", "--partition", "gpu"], "--partition: for --executor slurm only"),
        (["--wait"], "--wait: for --executor slurm only"),
        (["--executor", "local", "--shard", "1/2"], "--shard is for inline runs on machines without SLURM"),
        (["--executor", "local", "--jobs", "0"], "--jobs must be 1 or more"),
        (["--executor", "cluster"], "--executor must be one of inline, local, slurm, not 'cluster'"),
    ],
)
def test_misplaced_options_are_refused_in_one_line(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output


def test_slurm_without_sbatch_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--executor", "slurm"])
    assert result.exit_code == 2
    assert "needs SLURM's sbatch and srun on PATH" in result.output and "--shard K/N" in result.output


@pytest.mark.parametrize(
    "text, minutes",
    [("90", 90), ("90:30", 91), ("2:00:00", 120), ("1-12", 2160), ("1-00:30", 1470), ("0-0:0:30", 1)],
)
def test_time_limits_in_slurm_formats(text: str, minutes: int) -> None:
    assert parse_time(text) == minutes


@pytest.mark.parametrize("text", ["", "two hours", "1:2:3:4", "0", "-5"])
def test_a_wrong_time_limit_is_refused(text: str) -> None:
    with pytest.raises(RunError, match="^execution.time_limit ") as refused:
        parse_time(text)
    assert refused.value.fields == ("execution.time_limit",)


def test_slurm_options_become_sbatch_parameters(tmp_path) -> None:
    execution = parse_execution(
        "slurm", partition="gpu", time_limit="4:00:00", gpus_per_cell=2, cpus_per_cell=8, mem="32G",
        array_parallelism=4, slurm_options=["account=derm", "--qos=high", "exclusive"],
    )
    params = slurm_parameters(execution, tmp_path / "paper")
    assert params == {
        "job_name": "skinbench-paper", "time": 240, "partition": "gpu", "gpus_per_node": 2, "cpus_per_task": 8,
        "mem": "32G", "array_parallelism": 4,
        "additional_parameters": {"requeue": True, "account": "derm", "qos": "high", "exclusive": True},
    }
    assert "gpus_per_node" not in slurm_parameters(parse_execution("slurm", gpus_per_cell=0), tmp_path)
    with pytest.raises(RunError, match="KEY=VALUE"):
        parse_execution("slurm", slurm_options=["account="])


def test_local_slots_share_the_gpus_in_turn() -> None:
    assert [(s.gpu, s.sharing) for s in local_slots(None, [0, 1], 10)] == [(0, 1), (1, 1)]  # one per GPU
    assert [(s.gpu, s.sharing) for s in local_slots(3, [0, 1], 10)] == [(0, 2), (1, 1), (0, 2)]
    assert [(s.gpu, s.sharing) for s in local_slots(4, [], 3)] == [(None, 3)] * 3  # no more slots than cells
    assert local_slots(None, [], 5) == local_slots(1, [], 5)
    shared = local_slots(2, [0], 2)[0]
    assert memory_environment(shared) == {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.450", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    assert memory_environment(local_slots(1, [0], 2)[0]) == {}
    assert Execution().inline
