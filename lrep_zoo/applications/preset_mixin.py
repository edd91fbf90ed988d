"""`from_preset`, `save_to_preset` and `presets` on every lrep_zoo model, the keras-hub way.

A preset folder holds:

- `config.json`: `{"model": <class name>, "config": model.get_config()}`; for a
  plain Keras model (functional or `Sequential`, e.g. the SHADE classifiers)
  `{"model": "Functional", "config": keras.saving.serialize_keras_object(model)}`;
- `model.weights.h5`: the weights of an uncompiled copy (no optimizer state);
- `metadata.json`: the sha256 of the weights, the Keras and lrep_zoo versions, the
  parameter count, the backend, the training command and the date (`preset_metadata`).

`Cls.from_preset(name)` loads a registered preset (`lrep_zoo/models/<method>/presets.py`)
with the registry's sha256 checks; `Cls.from_preset(folder)` a local folder, whose
weights must match its `metadata.json` when there is one.

Example:

```python
import tempfile
from lrep_zoo.models import DualDis
model = DualDis.from_preset("dualdis_yaleb")
folder = model.save_to_preset(tempfile.mkdtemp() + "/my_dualdis", command="example")
again = DualDis.from_preset(folder)
sorted(DualDis.presets)  # ['dualdis_yaleb', 'dualdis_yaleb_disentangled', 'dualdis_yaleb_invariant', 'dualdis_yaleb_multitask']
```

Plain Keras models (no lrep_zoo class) use the module functions `save_to_preset`
and `from_preset`, which take any model:

```python
import tempfile
from lrep_zoo.applications.preset_mixin import from_preset, save_to_preset
from lrep_zoo.models.shade.classifiers import lenet
net = lenet((28, 28, 1), 10, regularizer="shade", weight=1e-3)
folder = save_to_preset(net, tempfile.mkdtemp() + "/my_lenet", command="example")
again = from_preset(folder)          # a functional keras.Model with the same weights
trained = from_preset("shade_lenet_mnist_1000")  # a registered one, by name
```
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import keras

from lrep_zoo.applications import registry
from lrep_zoo.applications.registry import WEIGHTS_FILE, PresetError

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
# Entries of metadata.json that `extra_metadata` may not replace.
_RESERVED = ("model", "sha256", "weights_file")


class _ClassProperty:
    """A read-only attribute computed from the class, on the class and its instances."""

    def __init__(self, fget: Callable[[type], Any]):
        self.fget = fget
        self.__doc__ = fget.__doc__

    def __get__(self, instance, owner):
        return self.fget(owner)


def _presets(cls) -> dict[str, dict]:
    """Registered presets of exactly this class: name -> {description, weights, recipe, ...}."""
    return {name: dataclasses.asdict(p) for name, p in registry.presets_of(cls.__name__).items()}


class PresetMixin:
    """`from_preset`, `save_to_preset` and `presets` for a `keras.Model` subclass.

    Put it first in the bases: `class DualDis(PresetMixin, MultiPhaseModel)`.
    `presets` lists the registered presets of that class only (not of its subclasses
    or parents): `TemperedGAN.presets` holds no `GAN` preset.

    Example:

    ```python
    from lrep_zoo.models import DenoisingAutoEncoder
    DenoisingAutoEncoder.presets["dae_mnist"]["description"]
    dae = DenoisingAutoEncoder.from_preset("dae_mnist")
    ```
    """

    presets = _ClassProperty(_presets)

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, load_weights: bool = True, **overrides):
        """A model of this class from a registered preset name or a local preset folder.

        Args:
            preset: A registered preset of this class (`Cls.presets`), e.g.
                `"dualdis_yaleb"`, or a folder written by `save_to_preset`
                (`config.json` + `model.weights.h5`, `metadata.json` checked if present).
            load_weights: `False` gives the preset's architecture, randomly initialised.
            **overrides: Config entries to change (must keep the weights' shapes).

        Raises:
            PresetError: unknown name, a preset of another class, a malformed folder,
                weights whose sha256 differs from the registry's or `metadata.json`'s,
                or weights of another architecture.

        Example:

        ```python
        from lrep_zoo.models import DualDis
        model = DualDis.from_preset("dualdis_yaleb")
        baseline = DualDis.from_preset("dualdis_yaleb_multitask")
        ```
        """
        name = os.fspath(preset)
        if name in registry.PRESETS:
            entry = registry.PRESETS[name]
            if entry.model != cls.__name__:
                how = ("lrep_zoo.applications.from_preset" if entry.model == registry.FUNCTIONAL
                       else f"lrep_zoo.models.{entry.model}.from_preset")
                raise PresetError(
                    f"Preset {name!r} is a {entry.model}, not a {cls.__name__}: load it with "
                    f"{how}({name!r}). "
                    f"{cls.__name__} presets: {sorted(cls.presets)}."
                )
            return registry.load_preset(name, weights="preset" if load_weights else None,
                                        **overrides)
        folder = Path(name)
        if folder.is_dir():
            return _from_folder(cls, folder, load_weights, overrides)
        raise PresetError(
            f"{name!r} is neither a registered {cls.__name__} preset "
            f"({sorted(cls.presets)}) nor a preset folder ({CONFIG_FILE} + {WEIGHTS_FILE}). "
            f"All registered presets: {registry.list_presets()}."
        )

    def save_to_preset(
        self,
        preset_dir: str | os.PathLike,
        command: str | None = None,
        overwrite: bool = False,
        extra_metadata: dict | None = None,
    ) -> Path:
        """Writes `config.json`, `model.weights.h5` and `metadata.json` to `preset_dir`.

        The weights come from an uncompiled copy (no optimizer state), so the folder
        loads with `Cls.from_preset(preset_dir)` and, once registered, by name.

        Args:
            preset_dir: The folder (created if missing). An existing non-empty folder
                is refused unless `overwrite=True`, which replaces these three files
                and keeps the others (grids, model card, ...).
            command: The training command recorded in `metadata.json`
                (default: this process' `sys.argv`).
            overwrite: Allow writing into a non-empty folder.
            extra_metadata: More `metadata.json` entries (e.g. scores); they may not
                replace `model`, `sha256` or `weights_file`.

        Returns:
            The folder, as a `Path`.

        Example:

        ```python
        import tempfile
        from lrep_zoo.models import DenoisingAutoEncoder
        dae = DenoisingAutoEncoder(latent_dim=4)
        folder = dae.save_to_preset(tempfile.mkdtemp(), extra_metadata={"epochs": 0})
        again = DenoisingAutoEncoder.from_preset(folder)
        ```
        """
        return save_to_preset(self, preset_dir, command=command, overwrite=overwrite,
                              extra_metadata=extra_metadata)


def _uncompiled_copy(model: keras.Model) -> tuple[keras.Model, dict]:
    """An uncompiled copy of `model` with its weights, and its `config.json` entries."""
    if isinstance(model, PresetMixin):
        fresh = type(model).from_config(model.get_config())
        fresh.set_weights(model.get_weights())
        return fresh, {"model": type(model).__name__, "config": fresh.get_config()}
    serialized = keras.saving.serialize_keras_object(model)
    # Publish the architecture only: no optimizer, loss or metrics.
    serialized["compile_config"] = None
    try:
        fresh = keras.saving.deserialize_keras_object(serialized)
    except Exception as e:  # noqa: BLE001 - any failure means: not serialisable this way
        raise PresetError(
            f"Cannot save {type(model).__name__} {model.name!r} as a preset: it is neither an "
            f"lrep_zoo model class nor a Keras model that keras.saving.deserialize_keras_object "
            f"rebuilds ({e})."
        ) from None
    fresh.set_weights(model.get_weights())
    return fresh, {"model": registry.FUNCTIONAL,
                   "config": keras.saving.serialize_keras_object(fresh)}


def save_to_preset(
    model: keras.Model,
    preset_dir: str | os.PathLike,
    command: str | None = None,
    overwrite: bool = False,
    extra_metadata: dict | None = None,
) -> Path:
    """`model.save_to_preset(...)` for any Keras model, lrep_zoo class or not.

    An lrep_zoo model (`PresetMixin`) is written as its class and `get_config()`; any
    other Keras model (functional, `Sequential`, registered subclasses) as
    `{"model": "Functional", "config": keras.saving.serialize_keras_object(model)}`,
    loaded back by `from_preset`. Arguments and files: `PresetMixin.save_to_preset`.

    Example:

    ```python
    import tempfile
    import keras
    from lrep_zoo.applications.preset_mixin import save_to_preset
    inputs = keras.Input((4,))
    net = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    save_to_preset(net, tempfile.mkdtemp() + "/tiny", command="example")
    ```
    """
    folder = Path(preset_dir)
    if folder.exists() and not folder.is_dir():
        raise PresetError(f"Cannot save a preset to {folder}: it exists and is not a folder.")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise PresetError(
            f"Preset folder {folder} is not empty: pass overwrite=True to replace its "
            f"{CONFIG_FILE}, {WEIGHTS_FILE} and {METADATA_FILE} (other files are kept), "
            f"or choose another folder."
        )
    _check_extra(extra_metadata)
    # Publish from an uncompiled copy: the weights file then holds no optimizer state.
    fresh, spec = _uncompiled_copy(model)
    text = json.dumps(spec, indent=2)  # before writing anything: fails on odd configs
    folder.mkdir(parents=True, exist_ok=True)
    fresh.save_weights(folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(text + "\n")
    metadata = preset_metadata(fresh, folder / WEIGHTS_FILE, command, extra_metadata)
    metadata["model"] = spec["model"]
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return folder


def from_preset(preset: str | os.PathLike, load_weights: bool = True, **overrides):
    """The model of a registered preset or a preset folder, whatever its class.

    A `"Functional"` preset (a plain Keras model, see `save_to_preset`) comes back as
    the `keras.Model` that `keras.saving.deserialize_keras_object` rebuilds (it takes
    no `overrides`); any other is `lrep_zoo.models.<model>.from_preset(preset)`.

    Example:

    ```python
    from lrep_zoo.applications.preset_mixin import from_preset
    net = from_preset("shade_lenet_mnist_1000")   # keras.Model (functional LeNet)
    gan = from_preset("gan_mnist")                # lrep_zoo.models.GAN
    ```
    """
    name = os.fspath(preset)
    if name in registry.PRESETS:
        model = registry.PRESETS[name].model
    elif Path(name).is_dir():
        model = _read_spec(Path(name))["model"]
    else:
        raise PresetError(
            f"{name!r} is neither a registered preset ({registry.list_presets()}) nor a "
            f"preset folder ({CONFIG_FILE} + {WEIGHTS_FILE})."
        )
    if model == registry.FUNCTIONAL:
        if name in registry.PRESETS:
            return registry.load_preset(name, weights="preset" if load_weights else None,
                                        **overrides)
        return _from_folder(None, Path(name), load_weights, overrides)
    from lrep_zoo import models

    return getattr(models, model).from_preset(name, load_weights=load_weights, **overrides)


def preset_metadata(
    model: keras.Model,
    weights_path: str | os.PathLike,
    command: str | None = None,
    extra_metadata: dict | None = None,
) -> dict:
    """The `metadata.json` entries of `model` whose weights are at `weights_path`.

    Keys: `model`, `weights_file`, `sha256`, `parameter_count`, `keras_version`,
    `lrep_zoo_version`, `backend`, `command` (default `sys.argv`), `date` (UTC, ISO
    8601), then `extra_metadata`, which may set any other key (or replace the defaults
    `backend`, `command`, `date`, ... when writing metadata for older weights).

    Example:

    ```python
    import tempfile
    from lrep_zoo.applications.preset_mixin import preset_metadata
    from lrep_zoo.models import DenoisingAutoEncoder
    dae = DenoisingAutoEncoder(latent_dim=4)
    path = tempfile.mkdtemp() + "/model.weights.h5"
    dae.save_weights(path)
    preset_metadata(dae, path, command="python train.py")["sha256"]
    ```
    """
    import lrep_zoo

    _check_extra(extra_metadata)
    path = Path(weights_path)
    return {
        "model": type(model).__name__,
        "weights_file": path.name,
        "sha256": registry.sha256_of(path),
        "parameter_count": int(model.count_params()),
        "keras_version": keras.__version__,
        "lrep_zoo_version": lrep_zoo.__version__,
        "backend": keras.backend.backend(),
        "command": command if command is not None else shlex.join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(extra_metadata or {}),
    }


def read_metadata(preset_dir: str | os.PathLike) -> dict | None:
    """The `metadata.json` of a preset folder, or `None` when it has none.

    Example:

    ```python
    import importlib.resources
    from lrep_zoo.applications.preset_mixin import read_metadata
    read_metadata(importlib.resources.files("lrep_zoo.presets") / "dae_mnist")["sha256"]
    ```
    """
    path = Path(str(preset_dir)) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise PresetError(f"{path} is not valid JSON ({e}).") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("sha256"), str):
        raise PresetError(f"{path} has no 'sha256' entry (the hash of {WEIGHTS_FILE}).")
    return metadata


def _check_extra(extra_metadata: dict | None) -> None:
    clash = sorted(set(extra_metadata or {}) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra_metadata may not set {clash}: they describe the weights file.")


def _read_spec(folder: Path) -> dict:
    """The `config.json` of preset folder `folder`, checked for its two entries."""
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise PresetError(
            f"Preset folder {folder} has no {CONFIG_FILE} (write one with save_to_preset)."
        )
    try:
        spec = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise PresetError(f"{config_path} is not valid JSON ({e}).") from None
    if not isinstance(spec, dict) or not {"model", "config"} <= set(spec):
        raise PresetError(f"{config_path} must hold {{\"model\": ..., \"config\": ...}}.")
    return spec


def _from_folder(cls, folder: Path, load_weights: bool, overrides: dict):
    """`cls` from the preset folder `folder` (see `PresetMixin.from_preset`).

    `cls=None`: a `"Functional"` folder (see `from_preset`)."""
    spec = _read_spec(folder)
    expected = cls.__name__ if cls is not None else registry.FUNCTIONAL
    if spec["model"] != expected:
        how = (f"lrep_zoo.applications.preset_mixin.from_preset({str(folder)!r})"
               if spec["model"] == registry.FUNCTIONAL
               else f"lrep_zoo.models.{spec['model']}.from_preset({str(folder)!r})")
        raise PresetError(
            f"Preset folder {folder} holds a {spec['model']}, not a {expected}: load it "
            f"with {how}."
        )
    metadata = read_metadata(folder)
    if metadata is not None and metadata.get("model", spec["model"]) != spec["model"]:
        raise PresetError(
            f"{folder / METADATA_FILE} describes a {metadata['model']} but {CONFIG_FILE} "
            f"a {spec['model']}."
        )
    model = registry.build_model(spec, overrides, where=str(folder))
    if not load_weights:
        return model
    weights = folder / WEIGHTS_FILE
    if metadata is not None and weights.is_file():
        actual = registry.sha256_of(weights)
        if actual != metadata["sha256"]:
            raise PresetError(
                f"Weights file {weights} has sha256 {actual}, but {METADATA_FILE} expects "
                f"{metadata['sha256']}: the file was changed, truncated or replaced after "
                f"save_to_preset. It was left in place."
            )
    return registry.load_weights_into(model, weights, preset=str(folder))
