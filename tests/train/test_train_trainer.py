"""The trainer's model set-up and prediction."""

from __future__ import annotations

import keras
import numpy as np
import pytest


def _training_variables(model: keras.Model) -> int:
    return len(model.optimizer.variables) + sum(len(metric.variables) for metric in model.metrics)


@pytest.mark.parametrize("class_weights", [None, np.full(7, 1.0, dtype="float32")], ids=["plain", "weighted"])
def test_compile_model_creates_every_variable_fit_needs(class_weights: np.ndarray | None) -> None:
    """Variables created inside the traced step would make TensorFlow trace the step twice."""
    from skinbench.train.trainer import compile_model

    image = keras.Input((4,), name="image")
    model = keras.Model({"image": image}, keras.layers.Dense(7, activation="softmax")(image))
    compile_model(model, class_weights=class_weights, jit=False)
    created = _training_variables(model)
    assert len(model.optimizer.variables) > 2 * len(model.trainable_variables)  # Adam's two slots per weight

    rng = np.random.default_rng(0)
    labels = np.eye(7, dtype="float32")[rng.integers(0, 7, 8)]
    history = model.fit({"image": rng.normal(size=(8, 4)).astype("float32")}, labels, batch_size=4, verbose=0)

    assert _training_variables(model) == created
    assert set(history.history) == {"loss", "accuracy"}


def test_predictions_cover_every_batch_in_order_as_predict_gives_them() -> None:
    from skinbench.data.pipeline import Batches
    from skinbench.train.predictor import Predictor
    from skinbench.train.trainer import predict_probabilities

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    batches = Batches(images, np.arange(40), rng.integers(0, 7, 40), batch_size=16, shuffle=False)  # 16, 16, 8 + 8 padding
    model = _tiny_model()
    predictor = Predictor(model, jit=False)

    probs = predict_probabilities(model, batches, 1, predictor)

    assert probs.shape == (40, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, model.predict({"image": images}, batch_size=40, verbose=0), rtol=1e-6)
    # The compiled program reads the weights the model holds when it is called, not when it was made.
    model.layers[-1].kernel.assign(np.zeros(model.layers[-1].kernel.shape, dtype="float32"))
    np.testing.assert_allclose(predictor.probabilities(batches), model.predict({"image": images}, verbose=0), rtol=1e-6)


def _tiny_model() -> keras.Model:
    image = keras.Input((8, 8, 3), dtype="uint8", name="image")
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image))
    return keras.Model({"image": image}, keras.layers.Dense(7, activation="softmax")(flat))


@pytest.mark.parametrize("class_weights", [None, np.linspace(0.5, 2.0, 7)], ids=["plain", "weighted"])
def test_validation_loss_is_the_unweighted_cross_entropy(class_weights) -> None:
    """val_loss and val_accuracy through the padded predict program equal Keras' evaluate of the
    unweighted cross-entropy on the part, whatever the training loss's class weights (Keras 2's
    fit(class_weight=...) weighted the training loss only)."""
    from skinbench.data.pipeline import Batches
    from skinbench.train.predictor import Predictor
    from skinbench.train.trainer import Validation, compile_model

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (37, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 7, 37)
    model = _tiny_model()
    compile_model(model, class_weights=class_weights, jit=False)
    batches = Batches(images, np.arange(37), labels, batch_size=16, shuffle=False)
    validation = Validation(batches, labels, Predictor(model, jit=False), replicas=1)
    validation.set_model(model)
    logs: dict = {}
    validation.on_epoch_end(0, logs)
    unweighted = keras.Model(model.inputs, model.outputs)
    unweighted.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    one_hot = np.eye(7, dtype="float32")[labels]
    expected = unweighted.evaluate({"image": images}, one_hot, batch_size=37, verbose=0, return_dict=True)
    assert logs["val_loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert logs["val_accuracy"] == pytest.approx(expected["accuracy"])
    if class_weights is not None:  # the model's own (weighted) loss gives another number
        weighted = float(keras.ops.convert_to_numpy(model.loss(one_hot, model.predict({"image": images}, verbose=0))))
        assert abs(weighted - logs["val_loss"]) > 1e-3
    assert validation.seconds > 0 and validation.train_end > 0


def test_out_of_memory_errors_are_recognised_and_the_retry_splits_the_batch() -> None:
    from skinbench.train.trainer import is_out_of_memory, retry_accumulation

    class ResourceExhaustedError(Exception):
        pass

    assert is_out_of_memory(ResourceExhaustedError("OOM when allocating tensor with shape[32,1024,14,14]"))
    assert is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 3.1GiB"))
    try:
        try:
            raise MemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        except MemoryError as inner:
            raise RuntimeError("step failed") from inner
    except RuntimeError as outer:
        assert is_out_of_memory(outer)
    assert not is_out_of_memory(ValueError("the loss became NaN"))
    assert [retry_accumulation(b) for b in (32, 16, 6, 9, 1)] == [4, 4, 3, 3, None]


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(tmp_path, monkeypatch) -> None:
    import contextlib

    import skinbench.train.trainer as trainer
    from skinbench.config import Settings
    from skinbench.errors import RunError
    from skinbench.train.state import StopRequest

    def build() -> keras.Model:
        raise AssertionError("no model is built for a batch size that cannot be split")

    monkeypatch.setattr(trainer, "distribution", lambda: (contextlib.nullcontext(), 2))
    settings = Settings(batch_size=15)
    with pytest.raises(RunError, match=r"batch size 15 does not split evenly over 2 GPUs; set training.batch_size \(--batch-size\) to a multiple of 2"):
        trainer.train_cell(build, None, tmp_path, seed=0, settings=settings, schedule=settings.schedule_for("metadata"),
                           stop=StopRequest())
