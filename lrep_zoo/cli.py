"""The `lrep-zoo` command.

    lrep-zoo demo                         DualDis on embedded relit surfaces: scores + grids
    lrep-zoo demo --data-dir DIR          the pretrained yaleb DualDis on real Yale-B faces
    lrep-zoo demo --model dae             the denoising auto-encoder demo
    lrep-zoo list                         presets and recipes
    lrep-zoo train RECIPE [ARGS...]       run a recipe (ARGS go to the recipe; try --help)
    lrep-zoo evaluate PRESET              score a pretrained preset on its test set
    lrep-zoo export PRESET DIR            write a SavedModel (TF Serving layout DIR/1/)
    lrep-zoo --backend jax ...            pick the Keras backend (sets KERAS_BACKEND)

`--backend` re-runs the command with `KERAS_BACKEND` set (`import lrep_zoo` imports keras).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys

BACKENDS = ("tensorflow", "jax", "torch")


def _demo(args) -> int:
    from lrep_zoo.demo import run_demo

    try:
        metrics = run_demo(args.model, args.output_dir, epochs=args.epochs,
                           data_dir=args.data_dir)
    except ValueError as e:
        raise SystemExit(f"lrep-zoo demo: {e}") from None
    if args.model == "dae":
        print(json.dumps(metrics["test"], indent=2))
        print("Wrote:\n  " + "\n  ".join(metrics["files"]))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrep-zoo", description="lrep_zoo: latent-representation models for Keras 3."
    )
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="short end-to-end run on embedded data (no download)")
    demo.add_argument("--model", choices=("dualdis", "dae"), default="dualdis",
                      help="dualdis (default): disentangling on relit surfaces; dae: denoising")
    demo.add_argument("--output-dir", default=None,
                      help="default: lrep_zoo_outputs/demo/<model>")
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
    evaluate.add_argument("--limit", type=int, default=None,
                          help="score only the first N test images (smoke runs)")

    export = sub.add_parser("export", help="export a preset as a SavedModel")
    export.add_argument("preset")
    export.add_argument("directory")
    export.add_argument("--version", type=int, default=1,
                        help="TF Serving version subfolder (0: write DIR itself)")
    export.add_argument("--overwrite", action="store_true")
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
        raise SystemExit(f"lrep-zoo: unknown recipe {name!r}; known recipes: {sorted(known)}")
    return importlib.import_module(f"lrep_zoo.recipes.{name}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up
    if args.backend and os.environ.get("KERAS_BACKEND") != args.backend:
        # `import lrep_zoo` has already imported keras: start again on the chosen backend.
        env = {**os.environ, "KERAS_BACKEND": args.backend}
        argv = sys.argv[1:] if argv is None else list(argv)
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "lrep_zoo.cli", *argv], env)

    if args.command == "demo":
        return _demo(args)

    if args.command == "list":
        import keras

        from lrep_zoo.applications import PRESETS

        print(f"Keras {keras.__version__}, backend {keras.backend.backend()}")

        print("Presets:")
        for name, preset in sorted(PRESETS.items()):
            print(f"  {name:24s} {preset.description}")
        print("Recipes (lrep-zoo train NAME --help):")
        for name, description in sorted(recipes().items()):
            print(f"  {name:24s} {description}")
        return 0

    if args.command == "train":
        _recipe_module(args.recipe).main(args.recipe_args)
        return 0

    from lrep_zoo.applications import get_preset, load_preset

    preset = get_preset(args.preset)
    if args.command == "evaluate":
        model = load_preset(preset.name, weights=args.weights)
        metrics = _recipe_module(preset.recipe).evaluate(
            model, data_dir=args.data_dir, limit=args.limit)
        print(json.dumps(metrics, indent=2))
        if args.output_dir:
            from lrep_zoo import reporting

            path = reporting.write_json(
                reporting.output_dir(args.output_dir) / "metrics.json", metrics)
            print(f"Wrote {path}")
        return 0

    if args.command == "export":
        from lrep_zoo.export import export_saved_model

        model = load_preset(preset.name)
        path = export_saved_model(model, args.directory, version=args.version or None,
                                  overwrite=args.overwrite)
        print(f"Wrote SavedModel of {preset.name} to {path}")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
