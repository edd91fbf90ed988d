"""Preset registry and weight resolution for pretrained models.

A preset is a named, trained configuration of a model. Its artefacts live in
`applications/<preset>/` at the top of the repository, shipped inside the wheel
as the `lrep_zoo.presets` package: `config.json` (`{"model": ..., "config": ...}`),
`model.weights.h5` (saved from an uncompiled model), `metadata.json` (sha256 of the
weights, versions, training command: `lrep_zoo.applications.preset_mixin`) and
`MODEL_CARD.md`. Each method registers its presets in
`lrep_zoo/models/<method>/presets.py` (imported by `import lrep_zoo`); this module
holds the machinery and imports no model at module level. Models load them with
`Cls.from_preset(name)` (`PresetMixin`).

Weights are resolved in this order:

1. an explicit path (`weights="/path/model.weights.h5"`), loaded as is;
2. `$LREP_ZOO_WEIGHTS_DIR/<preset>/model.weights.h5`;
3. the file shipped in the wheel;
4. `keras.utils.get_file` from the preset's URL into
   `$KERAS_HOME/models/lrep_zoo/` (only for presets that have a URL).

Files found in 2-4 must match the registered sha256. A mismatch, a truncated
file or weights of another architecture raise `PresetError` naming the preset,
the file and what was expected; a bad file is never deleted or replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import os
from pathlib import Path

import keras

WEIGHTS_FILE = "model.weights.h5"
WEIGHTS_DIR_ENV = "LREP_ZOO_WEIGHTS_DIR"
# `Preset.model` / config.json "model" of a plain Keras model (functional or Sequential)
# stored as `keras.saving.serialize_keras_object(model)`, e.g. the SHADE classifiers.
FUNCTIONAL = "Functional"


class PresetError(ValueError):
    """A preset name, its weights file or its architecture is not what was expected."""


@dataclasses.dataclass(frozen=True)
class Preset:
    """A registered pretrained configuration.

    Args:
        name: Preset name, e.g. `"dae_mnist"`.
        model: Class name in `lrep_zoo.models` (the class whose `from_preset` loads it),
            or `"Functional"` (`FUNCTIONAL`) for a plain Keras model whose config.json
            holds `keras.saving.serialize_keras_object(model)`.
        weights: The short name used by the application function
            (`DenoisingAutoEncoder(weights="mnist")`).
        sha256: Hash of `model.weights.h5`.
        description: One line for `lrep-zoo list`.
        recipe: The recipe (in `recipes/`) that trains it and whose `evaluate`
            function scores it (`lrep-zoo evaluate`).
        url: Optional download location of the weights.
    """

    name: str
    model: str
    weights: str
    sha256: str
    description: str
    recipe: str
    url: str | None = None


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    """Adds `preset` to `PRESETS` (done in `lrep_zoo/models/<method>/presets.py`).

    Example:

    ```python
    from lrep_zoo.applications.registry import Preset, register_preset
    # Its files go in applications/dae_mnist_mine/ (weights: or $LREP_ZOO_WEIGHTS_DIR).
    register_preset(Preset(name="dae_mnist_mine", model="DenoisingAutoEncoder",
                           weights="mnist_mine", sha256="<sha256 of model.weights.h5>",
                           description="my DAE", recipe="dae_mnist"))
    ```
    """
    if preset.name in PRESETS:
        raise ValueError(f"Preset {preset.name!r} is already registered.")
    PRESETS[preset.name] = preset
    return preset


def list_presets() -> list[str]:
    """Names of all registered presets.

    Example:

    ```python
    import lrep_zoo
    lrep_zoo.applications.list_presets()  # ['dae_mnist', ...]
    ```
    """
    return sorted(PRESETS)


def presets_of(model: str) -> dict[str, Preset]:
    """The registered presets of model class `model` (by class name), by preset name.

    Example:

    ```python
    import lrep_zoo
    lrep_zoo.applications.registry.presets_of("DualDis")  # {'dualdis_yaleb': Preset(...), ...}
    ```
    """
    return {name: PRESETS[name] for name in sorted(PRESETS) if PRESETS[name].model == model}


def get_preset(name: str) -> Preset:
    """The registered preset `name`; a `PresetError` lists the known ones otherwise."""
    if name not in PRESETS:
        raise PresetError(f"Unknown preset {name!r}. Known presets: {list_presets()}.")
    return PRESETS[name]


def find_preset(model: str, weights: str) -> Preset:
    """The preset of model class `model` registered under the short name `weights`."""
    matches = [p for p in PRESETS.values() if p.model == model and p.weights == weights]
    if not matches:
        known = sorted(p.weights for p in PRESETS.values() if p.model == model)
        raise PresetError(
            f"Unknown weights {weights!r} for {model}: pass one of {known}, None "
            f"(random initialisation) or the path of a .weights.h5 file."
        )
    return matches[0]


def preset_config(name: str) -> dict:
    """The shipped `config.json` of a preset: `{"model": ..., "config": {...}}`."""
    preset = get_preset(name)
    resource = importlib.resources.files("lrep_zoo.presets") / name / "config.json"
    try:
        return json.loads(resource.read_text())
    except FileNotFoundError:
        raise PresetError(
            f"Preset {name!r} has no config.json in the installed package "
            f"({resource}); reinstall lrep-zoo."
        ) from None


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_weights(name: str) -> Path:
    """Path of the verified weights file of preset `name` (order in the module docstring)."""
    preset = get_preset(name)
    looked = []
    candidates = []
    env_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if env_dir:
        candidates.append(Path(env_dir) / name / WEIGHTS_FILE)
    shipped = importlib.resources.files("lrep_zoo.presets") / name / WEIGHTS_FILE
    candidates.append(Path(str(shipped)))
    cache = _cache_root() / "models" / "lrep_zoo" / f"{name}.weights.h5"
    candidates.append(cache)
    for path in candidates:
        if path.is_file():
            _verify(preset, path)
            return path
        looked.append(str(path))
    if preset.url:
        downloaded = keras.utils.get_file(
            fname=cache.name,
            origin=preset.url,
            file_hash=preset.sha256,
            hash_algorithm="sha256",
            cache_subdir=str(Path("models") / "lrep_zoo"),
            cache_dir=str(_cache_root()),
        )
        _verify(preset, Path(downloaded))
        return Path(downloaded)
    raise PresetError(
        f"No weights file for preset {name!r}. Looked in: {looked}. Put "
        f"{WEIGHTS_FILE} in ${WEIGHTS_DIR_ENV}/{name}/ or reinstall lrep-zoo."
    )


def _cache_root() -> Path:
    """`$KERAS_HOME`, else `~/.keras` (read at call time, unlike Keras' own constant)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def _verify(preset: Preset, path: Path) -> None:
    actual = sha256_of(path)
    if actual != preset.sha256:
        raise PresetError(
            f"Weights file {path} of preset {preset.name!r} has sha256 {actual}, "
            f"expected {preset.sha256}. The file is corrupted, truncated or from "
            f"another version; it was left in place: delete or replace it."
        )


def load_weights_into(model: keras.Model, path: str | os.PathLike, preset: str | None = None):
    """`model.load_weights(path)` with clear errors for unreadable or mismatched files."""
    path = Path(path)
    what = f"preset {preset!r}" if preset else type(model).__name__
    if not path.is_file():
        raise PresetError(f"Weights file {path} for {what} does not exist.")
    if not path.name.endswith(".weights.h5"):
        raise PresetError(
            f"Weights file {path} for {what} must be a Keras '.weights.h5' file."
        )
    try:
        import h5py

        with h5py.File(path, "r"):
            pass
    except OSError as e:
        raise PresetError(
            f"Cannot read weights file {path} for {what}: it is truncated or not an "
            f"HDF5 file ({e})."
        ) from None
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as e:
        raise PresetError(
            f"Weights file {path} does not match the architecture of {what} "
            f"({type(model).__name__}, {model.count_params()} parameters): {e}"
        ) from None
    return model


def build_model(spec: dict, overrides: dict | None = None, where: str = "a preset"):
    """The (randomly initialised) model of a config.json `spec` (`{"model", "config"}`).

    `"model": "Functional"` is `keras.saving.deserialize_keras_object(spec["config"])`
    (no overrides: the architecture is the serialised graph); any other is the
    `lrep_zoo.models` class of that name, `from_config({**config, **overrides})`.

    Example:

    ```python
    from lrep_zoo.applications.registry import build_model, preset_config
    fresh = build_model(preset_config("gan_mnist"))
    ```
    """
    if spec["model"] == FUNCTIONAL:
        if overrides:
            raise PresetError(
                f"{where} is a serialised Keras model: it takes no config overrides "
                f"(got {sorted(overrides)})."
            )
        return keras.saving.deserialize_keras_object(spec["config"])
    from lrep_zoo import models

    cls = getattr(models, spec["model"], None)
    if cls is None:
        raise PresetError(f"{where} names model {spec['model']!r}, not a class of "
                          f"lrep_zoo.models nor {FUNCTIONAL!r}.")
    return cls.from_config({**spec["config"], **(overrides or {})})


def load_preset(name: str, weights: str | os.PathLike | None = "preset", **overrides):
    """Builds the model of preset `name` and loads weights.

    Args:
        name: A registered preset (`list_presets()`).
        weights: `"preset"` (the preset's verified weights), `None` (random
            initialisation) or a path to a `.weights.h5` file.
        **overrides: Config entries to change (must keep the weights' shapes).

    Example:

    ```python
    import lrep_zoo
    model = lrep_zoo.applications.load_preset("dae_mnist")
    ```
    """
    model = build_model(preset_config(name), overrides, where=f"preset {name!r}")
    if weights is None:
        return model
    path = resolve_weights(name) if weights == "preset" else Path(weights)
    return load_weights_into(model, path, preset=name)
