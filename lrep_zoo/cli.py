"""The `lrep-zoo` command.

    lrep-zoo demo                         DualDis on embedded relit surfaces: scores + grids
    lrep-zoo demo --data-dir DIR          the pretrained yaleb DualDis on real Yale-B faces
    lrep-zoo demo --model dae             the denoising auto-encoder demo
    lrep-zoo list                         presets and recipes
    lrep-zoo train RECIPE [ARGS...]       run a recipe (ARGS go to the recipe; try --help)
    lrep-zoo evaluate PRESET              score a pretrained preset on its test set
    lrep-zoo export PRESET DIR            write a SavedModel (TF Serving layout DIR/1/)
    lrep-zoo --backend jax ...            pick the Keras backend (sets KERAS_BACKEND)
    lrep-zoo --debug ...                  tracebacks and TensorFlow's start-up logs

User errors (unknown preset or recipe, missing or corrupt data, an output folder that
cannot be written or is not empty) print one line, `lrep-zoo CMD: error: ...`, to
stderr and exit with status 1 (`--debug`: the traceback instead); usage errors exit
with 2. Steps that take a while (loading a preset, evaluating, exporting) say what
they do in one line on stderr first. `--backend` re-runs the command with
`KERAS_BACKEND` set (`import lrep_zoo` imports keras). TensorFlow's start-up log
lines are silenced by `lrep_zoo._cli_entry`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import sys
import tempfile
from pathlib import Path

from lrep_zoo import _cli_entry

BACKENDS = ("tensorflow", "jax", "torch")
EXIT_USER_ERROR = 1


class CliError(Exception):
    """A user error the command reports in one line (no traceback)."""


def _user_errors() -> tuple:
    """Exception types reported as one line: what a user's input or files cause."""
    from lrep_zoo.applications import PresetError
    from lrep_zoo.data.errors import DatasetCorruptError, DatasetNotFoundError

    return (CliError, PresetError, DatasetNotFoundError, DatasetCorruptError, OSError,
            ValueError, ImportError, NotImplementedError)


# Python spellings in library messages -> the flags of this command that do the same.
_FLAG_SPELLINGS = {
    "overwrite": [(re.compile(r"`?\boverwrite=True\b`?"), "--overwrite")],
    "data_dir": [(re.compile(r"\bpass data_dir=DIR\b"), "pass --data-dir DIR"),
                 (re.compile(r"\bdata_dir=None and\b"), "no --data-dir given and")],
}


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _cli_message(args, error: BaseException) -> str:
    """`error` as one line, with the Python argument names of library messages
    replaced by this command's flags where it has them."""
    from lrep_zoo.applications import PresetError
    from lrep_zoo.data.errors import DatasetCorruptError, DatasetNotFoundError

    message = _one_line(error)
    own = (CliError, PresetError, DatasetNotFoundError, DatasetCorruptError, ValueError)
    if not isinstance(error, own) or not message:  # e.g. "PermissionError: [Errno 13] ..."
        message = f"{type(error).__name__}: {message}".rstrip(": ")
    for dest, rules in _FLAG_SPELLINGS.items():
        if dest in vars(args):
            for pattern, flag in rules:
                message = pattern.sub(flag, message)
    return message


def status(message: str) -> None:
    """One line on stderr saying what a slow step is doing."""
    print(f"lrep-zoo: {message}", file=sys.stderr, flush=True)


def _output_dir(path, *, flag: str, overwrite: bool, explicit: bool) -> Path:
    """Creates `path` and checks that it can be written, before any work.

    An explicitly given folder that already holds files is refused unless
    `--overwrite` (a default folder such as `lrep_zoo_outputs/demo/dae` is the
    command's own and is rewritten).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag} {path} is a file, not a folder.")
    if explicit and not overwrite and path.is_dir():
        entries = sorted(p.name for p in path.iterdir())
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise CliError(f"{flag} {path} is not empty ({shown}): pass --overwrite to write "
                           "into it, or name a new or empty folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise CliError(f"cannot write to {flag} {path}: {e.strerror or e}.") from e
    return path


def _demo(args) -> int:
    from lrep_zoo.demo import OUTPUT_ROOT, run_demo

    if args.data_dir and args.model != "dualdis":
        raise CliError("--data-dir is for the dualdis demo only.")
    explicit = args.output_dir is not None
    output_dir = args.output_dir if explicit else str(OUTPUT_ROOT / args.model)
    _output_dir(output_dir, flag="--output-dir", overwrite=args.overwrite, explicit=explicit)
    if args.model == "dualdis" and args.data_dir:
        from lrep_zoo.data import yaleb

        yaleb.yaleb_npz_path(args.data_dir)  # missing data: fail before loading the preset
        status(f"loading the pretrained DualDis preset dualdis_yaleb ({_backend()} backend) ...")
    metrics = run_demo(args.model, output_dir, epochs=args.epochs, data_dir=args.data_dir)
    if args.model == "dae":
        print(json.dumps(metrics["test"], indent=2))
        print("Wrote:\n  " + "\n  ".join(metrics["files"]))
    return 0


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _debug_flag(parser: argparse.ArgumentParser, default=False) -> None:
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks and TensorFlow's start-up logs")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrep-zoo", description="lrep_zoo: latent-representation models for Keras 3."
    )
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    _debug_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="short end-to-end run on embedded data (no download)")
    demo.add_argument("--model", choices=("dualdis", "dae"), default="dualdis",
                      help="dualdis (default): disentangling on relit surfaces; dae: denoising")
    demo.add_argument("--output-dir", default=None,
                      help="default: lrep_zoo_outputs/demo/<model> (rewritten on each run)")
    demo.add_argument("--overwrite", action="store_true",
                      help="write into a non-empty --output-dir")
    demo.add_argument("--epochs", type=int, default=None,
                      help="training epochs (default: 8 for dualdis, 3 for dae)")
    demo.add_argument("--data-dir", default=None,
                      help="dualdis only: folder with the Yale-B npz; scores and draws the "
                           "pretrained `yaleb` preset on real faces instead of training")

    sub.add_parser("list", help="list presets and recipes")

    train = sub.add_parser("train", help="run a recipe", add_help=False)
    train.add_argument("recipe")
    train.add_argument("recipe_args", nargs=argparse.REMAINDER)

    evaluate = sub.add_parser("evaluate", help="score a preset on its test set")
    evaluate.add_argument("preset")
    evaluate.add_argument("--data-dir", default=None,
                          help="npz folder or TFDS data_dir (default: $LREP_ZOO_DATA_DIR, TFDS)")
    evaluate.add_argument("--weights", default="preset",
                          help="'preset' (default) or a .weights.h5 path")
    evaluate.add_argument("--output-dir", default=None, help="also write metrics.json here")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="write into a non-empty --output-dir")
    evaluate.add_argument("--limit", type=int, default=None,
                          help="score only the first N test images (smoke runs)")

    export = sub.add_parser("export", help="export a preset as a SavedModel")
    export.add_argument("preset")
    export.add_argument("directory")
    export.add_argument("--version", type=int, default=1,
                        help="TF Serving version subfolder (0: write DIR itself)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an existing, non-empty target folder")
    for command in (demo, evaluate, export, sub.choices["list"]):
        _debug_flag(command, default=argparse.SUPPRESS)  # also after the command name
    return parser


def recipes() -> dict[str, str]:
    """Recipe name -> description, from the `lrep_zoo.recipes` package."""
    import lrep_zoo.recipes as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"lrep_zoo.recipes.{info.name}")
        if hasattr(module, "main"):
            found[info.name] = getattr(module, "DESCRIPTION", "")
    return found


def _recipe_module(name: str):
    known = recipes()
    if name not in known:
        raise CliError(f"unknown recipe {name!r}; known recipes: {sorted(known)} "
                       "(lrep-zoo list describes them).")
    return importlib.import_module(f"lrep_zoo.recipes.{name}")


def _list() -> int:
    from lrep_zoo.applications import PRESETS

    print(f"Keras {__import__('keras').__version__}, backend {_backend()}")
    print("Presets:")
    for name, preset in sorted(PRESETS.items()):
        print(f"  {name:24s} {preset.description}")
    print("Recipes (lrep-zoo train NAME --help):")
    for name, description in sorted(recipes().items()):
        print(f"  {name:24s} {description}")
    return 0


def _load(preset, weights="preset"):
    from lrep_zoo.applications import load_preset

    status(f"loading preset {preset.name} ({_backend()} backend) ...")
    return load_preset(preset.name, weights=weights)


def _evaluate(args, preset) -> int:
    if args.output_dir:
        _output_dir(args.output_dir, flag="--output-dir", overwrite=args.overwrite,
                    explicit=True)
    recipe = _recipe_module(preset.recipe)
    model = _load(preset, args.weights)
    what = f"the first {args.limit} test images" if args.limit else "its test set"
    status(f"evaluating {preset.name} on {what} (recipe {preset.recipe}; can take a few "
           "minutes on CPU) ...")
    metrics = recipe.evaluate(model, data_dir=args.data_dir, limit=args.limit)
    print(json.dumps(metrics, indent=2))
    if args.output_dir:
        from lrep_zoo import reporting

        path = reporting.write_json(Path(args.output_dir) / "metrics.json", metrics)
        print(f"Wrote {path}")
    return 0


def _export(args, preset) -> int:
    backend = _backend()
    if backend not in ("tensorflow", "jax"):
        raise CliError(f"SavedModel export needs the tensorflow or jax backend, not {backend}: "
                       f"run `lrep-zoo --backend tensorflow export {args.preset} "
                       f"{args.directory}`.")
    if args.version < 0:
        raise CliError(f"--version must be 0 or more, got {args.version}.")
    target = Path(args.directory) / str(args.version) if args.version else Path(args.directory)
    if target.exists() and not args.overwrite and (not target.is_dir() or any(target.iterdir())):
        raise CliError(f"export folder {target} already exists and is not empty: pass "
                       "--overwrite to replace it.")
    _output_dir(target.parent if args.version else target, flag="export folder",
                overwrite=True, explicit=False)
    from lrep_zoo.export import export_saved_model

    model = _load(preset)
    status(f"exporting {preset.name} as a SavedModel to {target} (tracing every endpoint"
           f"{'; about a minute on jax' if backend == 'jax' else ''}) ...")
    path = export_saved_model(model, args.directory, version=args.version or None,
                              overwrite=args.overwrite)
    print(f"Wrote SavedModel of {preset.name} to {path}")
    return 0


def _run(args) -> int:
    if args.command == "demo":
        return _demo(args)
    if args.command == "list":
        return _list()
    if args.command == "train":
        _recipe_module(args.recipe).main(args.recipe_args)
        return 0
    from lrep_zoo.applications import get_preset

    preset = get_preset(args.preset)
    if args.command == "evaluate":
        return _evaluate(args, preset)
    if args.command == "export":
        return _export(args, preset)
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns its exit status (0, or 1 after a user error)."""
    _cli_entry.end()  # start-up logs captured since `import lrep_zoo`: drop them now
    args = _parser().parse_args(argv)
    if args.command == "train" and "--debug" in args.recipe_args:
        args.recipe_args.remove("--debug")  # `lrep-zoo train NAME ... --debug`
        args.debug = True
    if args.backend and os.environ.get("KERAS_BACKEND") != args.backend:
        # `import lrep_zoo` has already imported keras: start again on the chosen backend.
        env = {**os.environ, "KERAS_BACKEND": args.backend}
        argv = sys.argv[1:] if argv is None else list(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "lrep_zoo.cli", *argv], env)

    try:
        return _run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"lrep-zoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as e:
        if args.debug:
            raise
        print(f"lrep-zoo {args.command}: error: {_cli_message(args, e)} "
              "(--debug shows the traceback)", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
