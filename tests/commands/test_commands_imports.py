"""The CLI, its commands and its option parsing import no TensorFlow, Keras or JAX."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "jax")

#: In a fresh interpreter: import the config, the CLI and every command module, build the
#: click command, parse a full `run` and `ablate mobilenetv3` command line (without running
#: them), render `run --help`, and report what was parsed and which heavy modules got imported.
PARSE = """
import contextlib, io, json, pkgutil, importlib, sys
import skinbench.config
import skinbench.cli
import skinbench.commands
for module in pkgutil.iter_modules(skinbench.commands.__path__):
    importlib.import_module(f"skinbench.commands.{module.name}")
import typer
from typer.testing import CliRunner
command = typer.main.get_command(skinbench.cli.app)
run = command.get_command(None, "run")
ctx = run.make_context("run", ["--split", "lesion", "--precision", "mixed", "--recipes", "metadata",
                               "--attention", "reference", "--schedule", "code", "--matrix", "paper"])
ablate = command.get_command(None, "ablate").get_command(None, "mobilenetv3")
ablate_ctx = ablate.make_context("mobilenetv3", ["--split", "lesion", "--dataset", "synthetic"])
CliRunner().invoke(skinbench.cli.app, ["run", "--help"])
params = {k: v for k, v in ctx.params.items() if isinstance(v, str)}
params.update({"ablate_" + k: v for k, v in ablate_ctx.params.items() if isinstance(v, str)})
print(json.dumps({"params": params, "types": sorted({type(v).__name__ for v in params.values()}),
                  "heavy": [name for name in %r if name in sys.modules]}))
""" % (HEAVY,)


def test_cli_commands_and_parsing_import_no_heavy_framework() -> None:
    done = subprocess.run([sys.executable, "-c", PARSE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["types"] == ["str"]
    params = report["params"]
    assert (params["split"], params["precision"], params["recipes"], params["matrix"]) == ("lesion", "mixed", "metadata", "paper")
    assert (params["attention"], params["schedule"]) == ("reference", "code")
    assert (params["ablate_split"], params["ablate_dataset"]) == ("lesion", "synthetic")
