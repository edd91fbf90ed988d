"""Shared timing helpers for benchmarks: per-backend subprocesses, interleaved timings.

Each benchmark script measures on the backend it runs under (`--worker`) and, run
without `--worker`, starts one subprocess per installed backend, then prints a
table and writes JSON. Ratios are taken within one process, with the compared
models timed in alternation, so that machine load affects both alike; the headline
ratio compares each model's fastest timing (see `ratio_summary`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
RESULTS = Path(__file__).resolve().parent / "results"


def installed_backends() -> list[str]:
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def step_seconds(model, x, y=None, batch_size=128, steps=20) -> float:
    """Seconds per training step of `model.fit` over `steps` batches (after compilation)."""
    n = batch_size * steps
    start = time.perf_counter()
    model.fit(x[:n], y if y is None else y[:n], batch_size=batch_size, epochs=1, verbose=0,
              shuffle=False)
    return (time.perf_counter() - start) / steps


def compare(models: dict, x, y=None, batch_size=128, steps=20, repeats=5) -> dict:
    """Step times of each model, timed in alternation (order reversed every other round).

    Returns `{name: sorted list of seconds per step}`; models are warmed up first.
    """
    for model in models.values():
        step_seconds(model, x, y, batch_size, steps=2)  # compile
    times = {name: [] for name in models}
    names = list(models)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(step_seconds(models[name], x, y, batch_size, steps))
    return {name: sorted(t) for name, t in times.items()}


def ratio_summary(times: dict, numerator: str, denominator: str) -> dict:
    """Milliseconds and ratios of two models' timings from `compare`.

    `ratio` compares the fastest timing of each model (the timeit convention: load
    from other processes only ever adds time, and on shared VMs it comes in
    bursts that can cover a whole timing); `ratio_median` is given beside it.
    """
    a, b = times[numerator], times[denominator]
    median = lambda t: t[len(t) // 2]  # noqa: E731
    return {f"{numerator}_ms": 1e3 * a[0], f"{denominator}_ms": 1e3 * b[0],
            f"{numerator}_ms_median": 1e3 * median(a),
            f"{denominator}_ms_median": 1e3 * median(b),
            "ratio": a[0] / b[0], "ratio_median": median(a) / median(b)}


def run_pinned(script: str, worker_args, cores: str, env: dict) -> dict:
    """Runs `script --worker *worker_args` pinned to `cores` (`taskset -c`, where the
    machine has it) with `env`; returns the JSON of its last output line, or
    `{"error": [last lines of stderr]}`."""
    import shutil

    command = [sys.executable, script, "--worker", *map(str, worker_args)]
    if shutil.which("taskset"):
        command = ["taskset", "-c", cores, *command]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-3:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_workers(script: str, backends=None, extra_args=()) -> dict:
    """Runs `script --worker` under each backend; returns {backend: result dict}."""
    results = {}
    for backend in backends or installed_backends():
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run([sys.executable, script, "--worker", *extra_args], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            results[backend] = {"error": proc.stderr.strip().splitlines()[-1:]}
            continue
        results[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print(" | ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


class XOnly:
    """Fits a model on x alone (its target is x) with the (x, y) calling convention."""

    def __init__(self, model):
        self.model = model

    def fit(self, x, y=None, **kwargs):
        return self.model.fit(x, **kwargs)
