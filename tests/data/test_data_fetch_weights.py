"""`skinbench data fetch-weights`: the files Keras asks for, with Keras's own hashes, into the Keras cache."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetch_fixtures import FileServer
from skinbench.cli import app

runner = CliRunner()
WEIGHTS = b"not really an h5 file, but bytes with a hash" * 500
FAKE = {"origin": "", "hash": None}


def _application(*, include_top, weights, input_shape, input_tensor=None):
    """A backbone whose ImageNet weights Keras would fetch the way keras.applications do."""
    from keras.src.utils import file_utils

    if weights == "imagenet":
        name = "fake_weights_tf_kernels.h5" if include_top else "fake_weights_tf_kernels_notop.h5"
        file_utils.get_file(name, FAKE["origin"] + name, cache_subdir="models", file_hash=FAKE["hash"])
    raise AssertionError("fetch-weights must stop at the download")


@pytest.fixture
def fake_backbone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    from skinbench.catalogue import BACKBONES, Backbone, CutPoint
    from skinbench.commands import data as data_command

    monkeypatch.setitem(BACKBONES, "fakenet", Backbone("fakenet", "FakeNet", 32, _application, "tf", CutPoint("x")))
    models = tmp_path / "keras" / "models"
    monkeypatch.setattr(data_command, "keras_models_dir", lambda: models)
    return models


@pytest.fixture
def server():
    served = FileServer()
    served.add("fake_weights_tf_kernels.h5", WEIGHTS)
    FAKE["origin"] = f"{served.base}/files/"
    yield served
    served.close()


def _fetch_weights(*args: str):
    return runner.invoke(app, ["data", "fetch-weights", "--backbones", "fakenet", *args])


def test_weights_land_in_the_keras_cache_checked_with_the_keras_hash(fake_backbone: Path, server: FileServer, monkeypatch) -> None:
    monkeypatch.setitem(FAKE, "hash", hashlib.sha256(WEIGHTS).hexdigest())
    result = _fetch_weights()
    assert result.exit_code == 0, result.output
    assert (fake_backbone / "fake_weights_tf_kernels.h5").read_bytes() == WEIGHTS
    assert "SHA-256 checked, as Keras checks it" in " ".join(result.output.split())
    requests = len(server.requests)
    again = _fetch_weights()
    assert again.exit_code == 0 and "already in" in again.output and len(server.requests) == requests


def test_a_file_failing_the_keras_hash_is_set_aside(fake_backbone: Path, server: FileServer, monkeypatch) -> None:
    monkeypatch.setitem(FAKE, "hash", "0" * 32)
    result = _fetch_weights()
    assert result.exit_code == 2
    assert "failed the MD5 check Keras makes" in " ".join(result.output.split())
    assert (fake_backbone / "fake_weights_tf_kernels.h5.corrupt").is_file() and not (fake_backbone / "fake_weights_tf_kernels.h5").exists()


def test_offline_names_the_file_and_the_command(fake_backbone: Path, monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setitem(FAKE, "origin", f"http://127.0.0.1:{probe.getsockname()[1]}/")
    result = _fetch_weights()
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "cannot download fake_weights_tf_kernels.h5" in text
    assert "skinbench data fetch-weights --backbones fakenet" in text and str(fake_backbone) in text


def test_another_image_size_fetches_the_file_without_the_top(fake_backbone: Path, monkeypatch) -> None:
    from skinbench.commands.data import weights_files
    from skinbench.models.backbones import get_backbone

    monkeypatch.setitem(FAKE, "origin", "http://127.0.0.1:9/")
    native = weights_files([get_backbone("fakenet")], None)["fakenet"]
    other = weights_files([get_backbone("fakenet")], 64)["fakenet"]
    assert (native["fname"], other["fname"]) == ("fake_weights_tf_kernels.h5", "fake_weights_tf_kernels_notop.h5")


def test_real_backbones_name_the_keras_files() -> None:
    from skinbench.commands.data import weights_files
    from skinbench.models.backbones import get_backbone

    files = weights_files([get_backbone("mobilenetv3small"), get_backbone("resnet50")], None)
    assert files["resnet50"]["fname"] == "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    assert files["resnet50"]["origin"].endswith("/resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    assert len(files["resnet50"]["file_hash"]) in (32, 64)
    assert files["mobilenetv3small"]["fname"].startswith("weights_mobilenet_v3_small")
