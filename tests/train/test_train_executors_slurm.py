"""--executor slurm without a cluster: stand-ins for sbatch, srun, sacct, scontrol and scancel on PATH.

The stand-in sbatch records its arguments and the script submitit wrote, and answers with a job
id; the test then runs the array's tasks as SLURM would (the script, with SLURM's environment
variables, through a stand-in srun that runs the command). A preemption is SLURM's signal
(USR2) to the task: submitit's checkpointing protocol requeues it (``scontrol requeue``), SLURM
ends the task's processes, and the requeued task resumes from the cell's last saved epoch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

from skinbench.config import Cell
from skinbench.records import FAILED, FINISHED, CellJob, CellProgress, CellStatus, JobIds, Timing
from skinbench.spec import RunSpec
from job_plugin import HOLD_ENV
from train_helpers import wait_for

HERE = Path(__file__).resolve().parent
CELLS = ("tiny-metadata-paper-s0", "tiny-metadata-paper-s1")
EPOCHS = 4

SBATCH = '''#!{python}
"""Stand-in sbatch: records its arguments and the script, answers with a job id; with FAKE_SLURM_RUN
set it also starts the job's tasks, each with SLURM's environment variables."""
import os, re, shutil, subprocess, sys
if os.environ.get("FAKE_SLURM_REFUSE"):
    sys.exit("sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified")
d = os.environ["FAKE_SLURM_DIR"]
path = os.path.join(d, "next_id")
job = int(open(path).read()) if os.path.exists(path) else 4242
open(path, "w").write(str(job + 1))
with open(os.path.join(d, "sbatch_calls"), "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
script = os.path.join(d, f"script_{{job}}.sh")
shutil.copy(sys.argv[-1], script)
if os.environ.get("FAKE_SLURM_RUN"):
    found = re.search(r"^#SBATCH --array=(\\d+)-(\\d+)", open(script).read(), re.M)
    for task in (range(int(found[1]), int(found[2]) + 1) if found else [None]):
        env = dict(os.environ, SLURM_JOB_ID=str(job if task is None else job + 1 + task), SLURM_PROCID="0",
                   SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1")
        if task is not None:
            env.update(SLURM_ARRAY_JOB_ID=str(job), SLURM_ARRAY_TASK_ID=str(task))
        subprocess.Popen(["bash", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
print(f"Submitted batch job {{job}}")
'''
SRUN = '''#!{python}
"""Stand-in srun: its --output and --error files (SLURM's %A %a %j %t filled in), then the command."""
import os, sys
args, files = sys.argv[1:], {{}}
while args and args[0].startswith("-"):
    option = args.pop(0)
    if option in ("--output", "--error"):
        files[option] = args.pop(0)
env = os.environ
names = {{"%A": env.get("SLURM_ARRAY_JOB_ID", env.get("SLURM_JOB_ID", "")), "%a": env.get("SLURM_ARRAY_TASK_ID", ""),
         "%j": env.get("SLURM_JOB_ID", ""), "%t": "0"}}
for option, fd in (("--output", 1), ("--error", 2)):
    if option in files:
        name = files[option]
        for key, value in names.items():
            name = name.replace(key, value)
        os.makedirs(os.path.dirname(name), exist_ok=True)
        os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND), fd)
os.execvp(args[0], args)
'''
SACCT = '''#!{python}
"""Stand-in sacct: the states the test wrote in FAKE_SLURM_DIR/states (JobID|State|NodeList lines)."""
import os
print("JobID|State|NodeList")
path = os.path.join(os.environ["FAKE_SLURM_DIR"], "states")
if os.path.exists(path):
    print(open(path).read().strip())
'''
RECORDER = '''#!{python}
"""Stand-in {name}: records its arguments."""
import os, sys
with open(os.path.join(os.environ["FAKE_SLURM_DIR"], "{name}_calls"), "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
'''


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of SLURM stand-ins, first on PATH; the jobs find the tests' plugin (the tiny backbone)."""
    bin_dir, state = tmp_path / "slurm-bin", tmp_path / "slurm"
    bin_dir.mkdir()
    state.mkdir()
    tools = {"sbatch": SBATCH, "srun": SRUN, "sacct": SACCT,
             "scontrol": RECORDER.replace("{name}", "scontrol"), "scancel": RECORDER.replace("{name}", "scancel")}
    for name, text in tools.items():
        path = bin_dir / name
        path.write_text(text.format(python=sys.executable))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in [str(HERE), os.environ.get("PYTHONPATH", "")] if p))
    monkeypatch.setenv("SKINBENCH_PLUGINS", "job_plugin")
    return state


def _calls(state: Path, tool: str) -> list[str]:
    path = state / f"{tool}_calls"
    return path.read_text().splitlines() if path.exists() else []


def _task(state: Path, job: int, task: int, **extra_env: str) -> subprocess.Popen:
    """Start array task ``task`` of job ``job`` as SLURM would: its script, with SLURM's variables."""
    env = dict(os.environ, SLURM_ARRAY_JOB_ID=str(job), SLURM_ARRAY_TASK_ID=str(task), SLURM_JOB_ID=str(job + 1 + task),
               SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1",
               **extra_env)
    return subprocess.Popen(["bash", str(state / f"script_{job}.sh")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _requeued(state: Path, task: subprocess.Popen, job_id: str, kill_wait_s: float = 30) -> None:
    """Wait for the task's ``scontrol requeue``; then, as SLURM does with a requeued job, end its
    processes once they have had ``kill_wait_s`` (SLURM's KillWait) to exit on their own."""
    deadline = time.monotonic() + 120
    while f"requeue {job_id}" not in _calls(state, "scontrol"):
        assert task.poll() is None, f"the task ended (exit {task.returncode}) without requeueing {job_id}"
        assert time.monotonic() < deadline, f"{job_id} was not requeued within 120 s of its signal"
        time.sleep(0.05)
    try:
        task.wait(timeout=kill_wait_s)
    except subprocess.TimeoutExpired:
        os.killpg(task.pid, signal.SIGKILL)
        task.wait()



def test_a_job_array_is_submitted_preempted_requeued_and_resumed(
    tmp_path: Path, slurm: Path, run_args: list[str], invoke
) -> None:
    out = tmp_path / "run"
    args = ["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--seeds", "0,1", "--epochs", str(EPOCHS),
            "--executor", "slurm", "--partition", "gpu", "--time", "2:00:00", "--gpus-per-cell", "1",
            "--cpus-per-cell", "4", "--mem", "16G", "--array-parallelism", "1", "--slurm-option", "account=derm",
            "--out", str(out), *run_args]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "4242_0\ttiny-metadata-paper-s0" in result.output and "4242_1\ttiny-metadata-paper-s1" in result.output
    assert "2 cell(s) submitted" in result.output

    # One array as submitit generates it, with the options asked for.
    assert len(_calls(slurm, "sbatch")) == 1
    script = (slurm / "script_4242.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=120", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --mem=16G", "#SBATCH --array=0-1%1", "#SBATCH --requeue", "#SBATCH --account=derm",
                 "#SBATCH --signal=USR2@90", "#SBATCH --job-name=skinbench-run"):
        assert line in script.splitlines(), line
    assert "srun --unbuffered" in script and "submitit.core._submit" in script
    jobs = JobIds.read(out)
    assert jobs.executor == "slurm" and jobs.array_job_ids == ("4242",)
    assert jobs.cells == {CELLS[0]: "4242_0", CELLS[1]: "4242_1"}
    for cell in CELLS:  # each job finds what it needs in its task and the run folder
        job = CellJob.read(out / cell)
        assert (job.executor, job.gpu, job.gpu_sharing) == ("slurm", None, 1)
        assert (out / cell / "config.json").exists() and not (out / cell / "status.json").exists()
    status = invoke(["status", str(out)])
    assert status.exit_code == 0 and status.output.count("queued as job 4242_") == 2

    # Task 1 runs to the end.
    assert _task(slurm, 4242, 1).wait(timeout=300) == 0
    assert CellStatus.read(out / CELLS[1]).status == FINISHED
    progress = CellProgress.read(out / CELLS[1])
    assert progress.executor == "slurm" and progress.job_id == "4242_1"

    # Task 0 is preempted after its first saved epoch: SLURM's signal, then submitit requeues it.
    task = _task(slurm, 4242, 0, **{HOLD_ENV: f"{CELLS[0]}:1"})
    try:
        wait_for(out / CELLS[0] / "checkpoint" / "latest.json", task)
        os.kill(CellProgress.read(out / CELLS[0]).pid, signal.SIGUSR2)
        _requeued(slurm, task, "4242_0")
    finally:
        if task.poll() is None:
            os.killpg(task.pid, signal.SIGKILL)
    assert CellProgress.read(out / CELLS[0]).phase == "requeued" and not (out / CELLS[0] / "status.json").exists()
    saved = json.loads((out / CELLS[0] / "checkpoint" / "latest.json").read_text())["folder"]
    done = json.loads((out / CELLS[0] / "checkpoint" / saved / "state.json").read_text())["epochs_done"]
    assert done == 1
    status = invoke(["status", str(out)])
    assert "requeued" in status.output and "1 finished, 0 failed, 0 running, 1 pending" in status.output

    # The same command while the requeued job waits: nothing is submitted twice.
    (slurm / "states").write_text("4242_0|REQUEUED|None\n4242_1|COMPLETED|node1\n")
    again = invoke(args)
    assert again.exit_code == 0, again.output
    assert len(_calls(slurm, "sbatch")) == 1 and "still running" in again.output

    # SLURM starts the requeued task: it resumes from the saved epoch.
    assert _task(slurm, 4242, 0).wait(timeout=300) == 0
    assert CellStatus.read(out / CELLS[0]).status == FINISHED
    history = pd.read_csv(out / CELLS[0] / "history.csv")
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))
    assert Timing.read(out / CELLS[0]).traced_epochs == (1, done + 1)

    # Everything finished: the same command submits nothing; a failed cell alone is submitted again.
    (slurm / "states").write_text("4242_0|COMPLETED|node1\n4242_1|COMPLETED|node1\n")
    again = invoke(args)
    assert again.exit_code == 0 and f"all 2 cells of {out} are finished; nothing to do" in again.output
    assert len(_calls(slurm, "sbatch")) == 1
    CellStatus.now(FAILED, "MemoryError: simulated").write(out / CELLS[1])
    again = invoke(args)
    assert again.exit_code == 0, again.output
    assert len(_calls(slurm, "sbatch")) == 2 and f"4243\t{CELLS[1]}" in again.output
    assert "#SBATCH --array" not in (slurm / "script_4243.sh").read_text()  # one cell: one job
    assert JobIds.read(out).cells == {CELLS[0]: "4242_0", CELLS[1]: "4243"}


def test_wait_follows_the_jobs_until_every_cell_has_run(
    tmp_path: Path, slurm: Path, run_args: list[str], invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    (slurm / "next_id").write_text("5000")
    monkeypatch.setenv("FAKE_SLURM_RUN", "1")  # the stand-in sbatch starts the job itself
    out = tmp_path / "run"
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--epochs", "2", "--executor", "slurm",
                     "--wait", "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    assert "tiny-metadata-paper-s0 epoch 2/2" in result.output
    assert "tiny-metadata-paper-s0: finished" in result.output and "1 cell(s) trained" in result.output
    assert CellProgress.read(out / CELLS[0]).job_id == "5000"


def test_a_job_carries_the_run_folder_its_cell_and_the_run_specification(tmp_path: Path) -> None:
    from skinbench.train.jobs import CellTask as Job

    spec = RunSpec.from_options(backbones="tiny", recipes="metadata", epochs=EPOCHS, data_dir=tmp_path, slurm_option=("a=b",))
    cell = Cell("tiny", "metadata", "paper", 0)
    job = Job(str(tmp_path), cell, spec)
    assert vars(cloudpickle.loads(cloudpickle.dumps(job))) == {"run_dir": str(tmp_path), "cell": cell, "spec": spec}
    (tmp_path / cell.cell_id).mkdir()
    again = job.checkpoint()  # what submitit calls on preemption: the same job, resubmitted
    assert isinstance(again.function, Job) and vars(again.function) == vars(job) and again.args == ()


def test_the_submitted_job_holds_the_run_specification(tmp_path: Path, slurm: Path, run_args: list[str], invoke) -> None:
    """What submitit pickled for SLURM: the task with the specification the command was given, and the cell."""
    out = tmp_path / "run"
    args = ["run", "--backbones", "tiny", "--recipes", "metadata", "--epochs", str(EPOCHS), "--executor", "slurm",
            "--partition", "gpu", "--out", str(out), *run_args]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    pickles = list((out / "jobs").glob("*/*_submitted.pkl"))
    assert len(pickles) == 1
    with pickles[0].open("rb") as file:
        task = cloudpickle.load(file).function
    assert task.spec.to_toml() == (out / "run.toml").read_text()  # the specification the command was given
    assert task.spec.training.epochs == EPOCHS and task.spec.execution.partition == "gpu"
    assert task.cell == Cell("tiny", "metadata", "paper", 0)
    assert not hasattr(CellJob.read(out / CELLS[0]), "settings")  # the settings travel in the task alone


def test_a_job_submitted_by_an_earlier_skinbench_fails_its_cell_saying_how_to_resubmit(tmp_path: Path) -> None:
    from skinbench.train.jobs import CellTask as Job

    earlier = Job.__new__(Job)  # as an earlier skinbench pickled it: the run folder and the cell id
    earlier.__dict__.update(run_dir=str(tmp_path), cell_id=CELLS[0])
    (tmp_path / CELLS[0]).mkdir()
    assert cloudpickle.loads(cloudpickle.dumps(earlier))().startswith("failed: this job was submitted by an earlier")
    status = CellStatus.read(tmp_path / CELLS[0])
    assert status.status == FAILED and status.error.endswith("run the same command again to resubmit the cell")


def test_a_refused_submission_gives_sbatch_s_reason(tmp_path: Path, slurm: Path, run_args: list[str], invoke, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_SLURM_REFUSE", "1")
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "metadata", "--executor", "slurm",
                     "--slurm-option", "account=nobody", "--out", str(tmp_path / "run"), *run_args])
    assert result.exit_code == 2
    assert "sbatch did not take the job array: sbatch: error: Batch job submission failed: Invalid account" in result.output
