"""Seed-generator states in weight files, so that resumed training draws the same noise.

Keras saves a layer's weights and non-trainable variables, but not the state of its
`keras.random.SeedGenerator`s: after `load_model`, `load_weights` or a
`keras.callbacks.BackupAndRestore` restart, a model's noise (GAN latents, input
corruption, augmentation) starts again from its initial seed, and training diverges
from the uninterrupted run. `SeedStateMixin` stores the states of every seed generator
of the model and of its nested layers with the model's own variables (keys
`seed_generator_state_<i>`, in `model.variables` order) and restores them on load.
Files without them (older saves, shipped presets) load as before: the seed generators
keep their current state.

Example:

```python
import keras
import numpy as np
from lrep_zoo.training.seed_state import SeedStateMixin

@keras.saving.register_keras_serializable()
class Noisy(SeedStateMixin, keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)
        self.noise = keras.layers.GaussianNoise(0.1, seed=0)

    def call(self, x, training=False):
        return self.noise(self.dense(x), training=training)

x = np.ones((2, 3), "float32")
model = Noisy()
model(x, training=True)                            # advances the noise's seed generator
model.save_weights("noisy.weights.h5")             # with the seed-generator state
after_save = keras.ops.convert_to_numpy(model(x, training=True))

restored = Noisy()
restored(x)
restored.load_weights("noisy.weights.h5")          # weights and seed state restored
same = keras.ops.convert_to_numpy(restored(x, training=True))
np.testing.assert_allclose(same, after_save)       # the same draw as the saved model
```
"""

from __future__ import annotations

import warnings

import keras

SEED_STATE_PREFIX = "seed_generator_state_"


def seed_generator_states(model) -> list:
    """The state variables of the seed generators of `model` and its nested layers.

    Found through the public `Layer.variables` (which lists seed-generator states,
    named `seed_generator_state`), each variable once, in that order.
    """
    states, seen = [], set()
    for v in model.variables:
        if v.name == "seed_generator_state" and id(v) not in seen:
            seen.add(id(v))
            states.append(v)
    return states


def save_seed_states(model, store) -> None:
    """Adds the seed-generator states of `model` to its own-variables `store`."""
    for i, state in enumerate(seed_generator_states(model)):
        store[f"{SEED_STATE_PREFIX}{i}"] = state


def load_seed_states(model, store):
    """Restores the seed-generator states found in `store`; returns the rest of it.

    For `load_own_variables(store)`: pass the result to the base class's method.
    """
    keys = list(store.keys())
    seed_keys = [k for k in keys if k.startswith(SEED_STATE_PREFIX)]
    if not seed_keys:
        return store
    states = seed_generator_states(model)
    if len(states) == len(seed_keys):
        for i, state in enumerate(states):
            state.assign(keras.ops.cast(store[f"{SEED_STATE_PREFIX}{i}"], state.dtype))
    else:
        warnings.warn(
            f"{type(model).__name__}: the file holds {len(seed_keys)} seed-generator "
            f"states, the model has {len(states)}; the seed generators are not restored.",
            stacklevel=3,
        )
    return {k: store[k] for k in keys if k not in seed_keys}


class SeedStateMixin:
    """Saves and restores the seed-generator states with a model's own variables.

    Put it before `keras.Model` in the bases (or call `save_seed_states` /
    `load_seed_states` from `save_own_variables` / `load_own_variables`).
    """

    def save_own_variables(self, store):
        super().save_own_variables(store)
        save_seed_states(self, store)

    def load_own_variables(self, store):
        super().load_own_variables(load_seed_states(self, store))
