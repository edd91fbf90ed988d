"""lrep_zoo.training.jit_policy: the one jit_compile policy, and the step-time line."""

import keras
import numpy as np
import pytest

from lrep_zoo import recipe_config
from lrep_zoo.training import jit_policy

pytestmark = pytest.mark.backends


def test_policy_table():
    assert jit_policy.default_jit_compile("jax", ["cpu:0"]) is True
    assert jit_policy.default_jit_compile("tensorflow", ["cpu:0"]) is False
    assert jit_policy.default_jit_compile("tensorflow", ["cpu:0", "gpu:0"]) is True
    assert jit_policy.default_jit_compile("torch", ["cuda:0"]) is False
    with pytest.raises(ValueError, match="unknown backend"):
        jit_policy.default_jit_compile("numpy", ["cpu:0"])


def test_resolve_and_recipe_switch_follow_the_policy():
    here = jit_policy.default_jit_compile()
    expected = {"jax": True, "torch": False}.get(
        keras.backend.backend(),
        any(not d.startswith("cpu") for d in jit_policy.devices()))
    assert here is expected
    assert jit_policy.resolve_jit_compile("auto") is here
    assert jit_policy.resolve_jit_compile(False) is False
    assert recipe_config.jit_compile(True) is here and recipe_config.jit_compile(False) is False
    with pytest.raises(ValueError, match="jit_compile must be"):
        jit_policy.resolve_jit_compile("xla")


def test_step_timer_prints_backend_jit_and_step_time():
    lines = []
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_policy.resolve_jit_compile())
    timer = jit_policy.StepTimer(steps=3, print_fn=lines.append)
    x = np.ones((12, 4), "float32")
    model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0, callbacks=[timer])
    assert len(lines) == 1 and timer.step_seconds > 0
    assert f"backend {keras.backend.backend()}" in lines[0]
    assert f"jit_compile={model.jit_compile}" in lines[0] and "ms per train step" in lines[0]
    with pytest.raises(ValueError, match="steps must be"):
        jit_policy.StepTimer(steps=0)
