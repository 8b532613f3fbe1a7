"""One compiled inference program over a model's current weights.

``predict_on_batch`` gathers the model's variables into a state, runs, writes them back and
converts the outputs, on every call; on a GPU that handling is most of a small batch's time,
and validation calling it once per batch pays it every batch of every epoch. A ``Predictor``
compiles the forward pass once and reads the variables once per pass over a set of batches:

* JAX: ``jax.jit`` of ``model.stateless_call(trainable, non_trainable, inputs, training=False)``,
  the variables' current values passed as arguments (gathered once per ``probabilities`` call
  or ``bind``);
* TensorFlow: ``tf.function(jit_compile=jit)`` of ``model(inputs, training=False)``, which
  reads the variables where they live;
* any other backend: the eager call ``model(inputs, training=False)``, said so in ``description``.

Every batch of a ``data.pipeline.Batches`` has one shape, so the program is compiled once.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np


class Predictor:
    """Class probabilities of a model, through one compiled program."""

    def __init__(self, model: keras.Model, *, jit: bool) -> None:
        self.model = model
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            def infer(trainable, non_trainable, inputs):
                outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
                return outputs

            self._jitted = jax.jit(infer)
            self.description = "jax.jit(stateless_call)"
        elif backend == "tensorflow":
            import tensorflow as tf

            self._function = tf.function(lambda inputs: model(inputs, training=False), jit_compile=jit)
            self.description = f"tf.function(jit_compile={jit})"
        else:
            self._function = lambda inputs: model(inputs, training=False)
            self.description = f"eager model call ({backend}: not compiled)"
        self._backend = backend

    def bind(self) -> Callable[[dict], object]:
        """A function of the inputs alone over the weights the model holds now (outputs stay on the device)."""
        if self._backend == "jax":
            trainable = [v.value for v in self.model.trainable_variables]
            non_trainable = [v.value for v in self.model.non_trainable_variables]
            return lambda inputs: self._jitted(trainable, non_trainable, inputs)
        return self._function

    def probabilities(self, batches) -> np.ndarray:
        """Float32 probabilities of every sample of evaluation ``batches`` (``data.pipeline.Batches``),
        in order, the padding of the last batch dropped."""
        predict = self.bind()
        outputs = [predict(batches[index][0]) for index in range(len(batches))]  # queued; the device runs ahead
        probs = np.concatenate([np.asarray(keras.ops.convert_to_numpy(o), dtype=np.float32) for o in outputs])
        return probs[: batches.n_samples]
