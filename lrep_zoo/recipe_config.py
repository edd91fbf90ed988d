"""Recipe configurations: one dataclass states a recipe's options once.

The command line (`argparse`: flags, defaults, choices, help) and the JSON record
written with the results both come from the dataclass, so neither keeps its own
copy of the hyperparameters.

Field -> flag rules (`build_parser`):

| annotation                  | command line                                          |
|-----------------------------|-------------------------------------------------------|
| `int`, `float`, `str`       | `--name VALUE` (`type=` the annotation)              |
| `X \\| None`                | the same, default `None`                              |
| `Literal["a", "b"]`         | `choices=("a", "b")`                                  |
| `list[X]`                   | `nargs="+"` (or the field's `nargs`)                  |
| `bool`, default `False`     | `--name` (`store_true`)                               |
| `bool`, default `True`      | `--no-name` (`store_false`): `jit: bool = True` gives `--no-jit` |

`--name` is the field name with `_` -> `-`; `option(flag=...)` overrides it.

Example:

```python
import dataclasses

from lrep_zoo.recipe_config import build_parser, from_args, option, record, to_argv

@dataclasses.dataclass
class Config:
    epochs: int = option(20, help="passes over the training set")
    arch: str = option("mlp", choices=("mlp", "lenet"))  # or `Literal["mlp", "lenet"]`
    seeds: list[int] = option([0, 1, 2])
    jit: bool = option(True, help="--no-jit: jit_compile=False")

parser = build_parser(Config, prog="demo")
config = from_args(Config, parser.parse_args(["--seeds", "3", "--no-jit"]))
assert config == Config(seeds=[3], jit=False)
assert to_argv(config) == ["--seeds", "3", "--no-jit"]
assert record(config) == {"epochs": 20, "arch": "mlp", "seeds": [3], "jit": False}
```
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import shlex
import types
import typing
from typing import Any, Literal, Sequence

__all__ = ["option", "build_parser", "from_args", "parse", "record", "to_argv", "command",
           "jit_compile", "mixed_precision"]

_METADATA_KEY = "recipe_config"

# Engine flags: every recipe's parser has them (unless its config has a field of the
# same name). They set up the process, not the recipe: `from_args` applies them,
# keeps them on the config, and `record` / `to_argv` write them when set.
ENGINE_FLAGS = {
    "distribute": (
        "data parallel over all local devices (JAX: keras.distribution.DataParallel; "
        "TensorFlow: MirroredStrategy, MultiWorkerMirroredStrategy under TF_CONFIG); "
        "the batch size is the global batch"
    ),
}
# Engine options with a value: name -> (choices, default, help). Set only when not
# the default (then applied, recorded and written back like the flags above).
ENGINE_CHOICES = {
    "mixed_precision": (
        ("off", "bfloat16", "float16"), "off",
        "mixed precision (keras.mixed_precision; off: the policy is left as it is, float32 "
        "by default): bfloat16 = 'mixed_bfloat16', float16 = "
        "'mixed_float16' with loss scaling (not for multi-phase models on JAX); "
        "see README 'Mixed precision'",
    ),
}
_ENGINE_KEY = "_recipe_engine_flags"


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str | None = None,
    flag: str | None = None,
    choices: Sequence | None = None,
    nargs: int | str | None = None,
    metavar: str | None = None,
    append: bool = False,
    recorded: bool = True,
) -> Any:
    """A dataclass field with its command-line details.

    Args:
        default: The default; a list default is copied for each instance.
        help: Help text of the flag.
        flag: The flag (default `--` + the field name with `-` for `_`, and
            `--no-...` for a bool that defaults to `True`).
        choices: Allowed values (each element for a list field). A `Literal`
            annotation gives them too.
        nargs: `argparse` nargs of a list field (default `"+"`).
        metavar: `argparse` metavar.
        append: A list field filled by repeating the flag (`action="append"`).
        recorded: `False` for fields that select what the command does rather
            than how it trains (e.g. `--summarise DIR`): left out of `record`.

    Returns:
        A `dataclasses.field`.

    Example:

    ```python
    import dataclasses
    from lrep_zoo.recipe_config import option, parse

    @dataclasses.dataclass
    class Config:
        weight: list[str] = option([], append=True, metavar="REG=W",
                                   help="fix a regulariser's weight")

    parse(Config, ["--weight", "shade=1e-3", "--weight", "l2=1e-4"]).weight
    # ['shade=1e-3', 'l2=1e-4']
    ```
    """
    metadata = {_METADATA_KEY: dict(help=help, flag=flag, choices=choices, nargs=nargs,
                                    metavar=metavar, append=append, recorded=recorded)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _details(field: dataclasses.Field) -> dict:
    return field.metadata.get(_METADATA_KEY, {})


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise TypeError(f"Recipe option {field.name!r} needs a default.")


def _analyse(annotation) -> tuple[type, bool, tuple | None]:
    """`(scalar type, is_list, literal choices)` of a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"Unsupported recipe option type {annotation!r}.")
        annotation = args[0]
        origin = typing.get_origin(annotation)
    is_list = origin in (list, tuple, collections.abc.Sequence)
    if is_list:
        annotation = typing.get_args(annotation)[0]
        origin = typing.get_origin(annotation)
    choices = None
    if origin is Literal:
        choices = typing.get_args(annotation)
        annotation = type(choices[0])
    if annotation not in (int, float, str, bool):
        raise TypeError(f"Unsupported recipe option type {annotation!r}.")
    return annotation, is_list, choices


def _flag(field: dataclasses.Field, kind: type, default: Any) -> str:
    flag = _details(field).get("flag")
    if flag:
        return flag
    name = field.name.replace("_", "-")
    return f"--no-{name}" if kind is bool and default is True else f"--{name}"


def build_parser(config_cls: type, *, prog: str | None = None,
                 description: str | None = None) -> argparse.ArgumentParser:
    """The `argparse` parser of a recipe's config dataclass (one flag per field).

    Args:
        config_cls: A dataclass whose fields all have defaults.
        prog: Program name in the usage line.
        description: Parser description.

    Returns:
        An `ArgumentParser`; each flag's `dest` is its field name, so
        `from_args` turns the parsed namespace back into the dataclass.

    Example:

    ```python
    import dataclasses
    from lrep_zoo.recipe_config import build_parser, option

    @dataclasses.dataclass
    class Config:
        steps: int = option(1000, help="SGD steps")

    build_parser(Config).parse_args(["--steps", "10"]).steps  # 10
    ```
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if not field.init:
            continue
        details = _details(field)
        kind, is_list, choices = _analyse(hints[field.name])
        default = _default(field)
        kwargs: dict[str, Any] = {"dest": field.name, "default": default,
                                  "help": details.get("help")}
        if details.get("metavar"):
            kwargs["metavar"] = details["metavar"]
        if kind is bool and not is_list:
            if not isinstance(default, bool):
                raise TypeError(f"Bool option {field.name!r} needs a True or False default.")
            kwargs["action"] = "store_false" if default else "store_true"
        else:
            kwargs["type"] = kind
            kwargs["choices"] = details.get("choices") or choices
            if is_list:
                if details.get("append"):
                    kwargs["action"] = "append"
                else:
                    kwargs["nargs"] = details.get("nargs") or "+"
        parser.add_argument(_flag(field, kind, default), **kwargs)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    for name, text in ENGINE_FLAGS.items():
        if name not in fields:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name,
                                action="store_true", help=text)
    for name, (choices, default, text) in ENGINE_CHOICES.items():
        if name not in fields:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, choices=choices,
                                default=default, help=text)
    return parser


def _engine_flags(config) -> dict:
    return getattr(config, _ENGINE_KEY, {})


def mixed_precision(choice: str) -> str:
    """Sets Keras' global dtype policy for a recipe's `--mixed-precision` choice.

    `"off"`: `"float32"`; `"bfloat16"`: `"mixed_bfloat16"`; `"float16"`:
    `"mixed_float16"` (models built afterwards compute in half precision, keep float32
    weights, and `compile` adds loss scaling). Returns the policy name.

    Example:

    ```python
    from lrep_zoo.recipe_config import mixed_precision
    mixed_precision("bfloat16")  # "mixed_bfloat16"
    mixed_precision("off")       # "float32"
    ```
    """
    policies = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    if choice not in policies:
        raise ValueError(
            f"mixed precision must be one of {sorted(policies)}, got {choice!r}."
        )
    import keras

    keras.mixed_precision.set_global_policy(policies[choice])
    return policies[choice]


def _apply_engine_flags(flags: dict) -> None:
    if "mixed_precision" in flags:
        mixed_precision(flags["mixed_precision"])
    if flags.get("distribute"):
        from lrep_zoo.training import distribute

        distribute.enable_data_parallel()


def from_args(config_cls: type, namespace: argparse.Namespace):
    """The dataclass of a namespace parsed by `build_parser(config_cls)`.

    Example:

    ```python
    import dataclasses
    from lrep_zoo.recipe_config import build_parser, from_args, option

    @dataclasses.dataclass
    class Config:
        steps: int = option(1000, help="SGD steps")

    parser = build_parser(Config)
    config = from_args(Config, parser.parse_args([]))  # == Config()
    ```
    """
    config = config_cls(**{f.name: getattr(namespace, f.name)
                           for f in dataclasses.fields(config_cls) if f.init})
    fields = {f.name for f in dataclasses.fields(config_cls)}
    flags = {name: True for name in ENGINE_FLAGS
             if name not in fields and getattr(namespace, name, False)}
    flags.update({name: getattr(namespace, name) for name, (_, default, _) in
                  ENGINE_CHOICES.items()
                  if name not in fields and getattr(namespace, name, default) != default})
    if flags:
        object.__setattr__(config, _ENGINE_KEY, flags)
        _apply_engine_flags(flags)
    return config


def parse(config_cls: type, argv: Sequence[str] | None = None, *, prog: str | None = None,
          description: str | None = None):
    """`from_args(config_cls, build_parser(config_cls, ...).parse_args(argv))`.

    Example:

    ```python
    import dataclasses
    from lrep_zoo.recipe_config import option, parse

    @dataclasses.dataclass
    class Config:
        steps: int = option(1000, help="SGD steps")

    config = parse(Config, ["--steps", "10"], prog="lrep-zoo train demo")  # Config(steps=10)
    ```
    """
    parser = build_parser(config_cls, prog=prog, description=description)
    return from_args(config_cls, parser.parse_args(argv))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def record(config) -> dict:
    """The recorded fields of a config as a JSON-ready dict (lists, not tuples).

    Example:

    ```python
    import dataclasses
    from lrep_zoo import reporting
    from lrep_zoo.recipe_config import option, parse, record

    @dataclasses.dataclass
    class Config:
        steps: int = option(1000, help="SGD steps")
        seeds: list[int] = option([0, 1])

    NAME, config = "demo", parse(Config, ["--steps", "10"])
    runs = [{"seed": seed, "test": 0.9} for seed in config.seeds]
    record(config)  # {'steps': 10, 'seeds': [0, 1]}
    path = "runs/demo/results.json"
    reporting.write_json(path, {"recipe": NAME, **record(config), "runs": runs})
    ```
    """
    return {**{f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)
               if _details(f).get("recorded", True)}, **_engine_flags(config)}


def to_argv(config, *, changed_only: bool = True) -> list[str]:
    """The command-line arguments that `build_parser` parses back into `config`.

    Args:
        config: A config dataclass instance.
        changed_only: Only the fields that differ from their defaults.

    Example:

    ```python
    import dataclasses
    from lrep_zoo.recipe_config import option, parse, to_argv

    @dataclasses.dataclass
    class Config:
        steps: int = option(1000, help="SGD steps")
        jit: bool = True

    NAME, config = "demo", parse(Config, ["--steps", "10", "--no-jit"])
    " ".join(["lrep-zoo", "train", NAME, *to_argv(config)])
    # 'lrep-zoo train demo --steps 10 --no-jit'
    ```
    """
    hints = typing.get_type_hints(type(config))
    argv: list[str] = []
    for field in dataclasses.fields(config):
        if not field.init:
            continue
        value, default = getattr(config, field.name), _default(field)
        unchanged = _plain(value) == _plain(default)
        if unchanged and (changed_only or value is None or value == []):
            continue  # (None and [] have no flag: they can only be the default)
        kind, is_list, _ = _analyse(hints[field.name])
        flag = _flag(field, kind, default)
        if kind is bool and not is_list:
            if value != default:
                argv.append(flag)
        elif value is None:
            raise ValueError(f"{field.name}=None cannot be written as a flag.")
        elif is_list and _details(field).get("append"):
            for item in value:
                argv += [flag, str(item)]
        elif is_list:
            if not value:
                raise ValueError(f"{field.name}=[] cannot be written as a flag.")
            argv += [flag, *(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    for name, value in _engine_flags(config).items():
        argv += [f"--{name.replace('_', '-')}"] + ([] if value is True else [str(value)])
    return argv


def command(recipe: str, config) -> str:
    """The `lrep-zoo train` command line that reruns `recipe` with `config`.

    Example:

    ```python
    import dataclasses
    import lrep_zoo
    from lrep_zoo.recipe_config import command, option, parse

    @dataclasses.dataclass
    class Config:
        epochs: int = option(20, help="passes over the training set")

    config = parse(Config, ["--epochs", "1"])
    command("dae_mnist", config)  # 'lrep-zoo train dae_mnist --epochs 1'
    model = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
    out = "presets/dae_mnist_mine"
    model.save_to_preset(out, command=command("dae_mnist", config), overwrite=True)
    ```
    """
    return shlex.join(["lrep-zoo", "train", recipe, *to_argv(config)])


def jit_compile(jit: bool) -> bool:
    """The `jit_compile` of a recipe's `--no-jit` switch: the library policy, or `False`.

    `jit=True` gives `lrep_zoo.training.jit_policy.resolve_jit_compile("auto")`:
    XLA on JAX and on TensorFlow with an accelerator, not on a CPU-only
    TensorFlow, never `torch.compile` (measured: `benchmarks/jit_policy.py`). The
    result is a bool, so a recipe can print and record what it runs.

    Example:

    ```python
    import dataclasses
    import keras
    from lrep_zoo.recipe_config import jit_compile, parse

    @dataclasses.dataclass
    class Config:
        jit: bool = True

    config = parse(Config, ["--no-jit"])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile(config.jit))  # False
    ```
    """
    from lrep_zoo.training.jit_policy import resolve_jit_compile

    return resolve_jit_compile("auto") if jit else False
