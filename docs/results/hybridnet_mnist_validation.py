"""Validation runs behind docs/results/hybridnet_mnist.md ("Selection").

One `hybridnet_mnist` row trained as the recipe does (labelled split of seed 0,
100 labels), scored every tenth of the run on the validation images: the last
2,000 offline training images minus the labelled ones (they stay in the
unlabelled stream; their labels are used only here, never the test set).

    KERAS_BACKEND=jax python docs/results/hybridnet_mnist_validation.py hybridnet_shade 4000
    KERAS_BACKEND=jax python docs/results/hybridnet_mnist_validation.py baseline 4000
    # measured: hybridnet_shade 95.1 % (teacher 95.1 %), baseline 86.8 % at step 4000;
    # hybridnet_shade 1000 steps: 82.5 %
"""
import os
import sys

import keras
import numpy as np

from lrep_zoo import data
from lrep_zoo.recipes import hybridnet_mnist as recipe
from lrep_zoo.training.schedules import RampedLinearDecay

variant, steps = sys.argv[1], int(sys.argv[2])
data_dir = os.environ.get("LREP_ZOO_DATA_DIR", "../shared/data")
x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
x = x.reshape(len(x), 28, 28, 1)
labelled = data.split_labelled(y, 100, seed=0)
val = np.setdiff1d(np.arange(len(x) - 2000, len(x)), labelled)
x_val, y_val = x[val].astype("float32") / 255.0, y[val]

keras.utils.set_random_seed(0)
stream = data.semi_supervised(x, y, 100, seed=0, batch_size=64, labelled_per_batch=16,
                              labelled_indices=labelled)
model = recipe.build(variant, steps, seed=0)
model.compile(optimizer=keras.optimizers.Adam(RampedLinearDecay(3e-3, total_steps=steps,
                                                                decay_steps=steps // 3)))


class Validation(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        scores = recipe.evaluate(model, x_test=x_val, y_test=y_val)
        print(f"step {(epoch + 1) * steps // 10}: " +
              " ".join(f"val_{k} {v:.3f}" for k, v in scores.items()), flush=True)


model.fit(stream, steps_per_epoch=steps // 10, epochs=10, verbose=0, callbacks=[Validation()])
