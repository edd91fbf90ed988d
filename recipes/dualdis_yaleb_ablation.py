"""Recipe: the DualDis Yale-B ablation (issue 16) and the paper's baselines (issue 15).

Every row is one run of the `dualdis_yaleb` recipe (a subprocess, so that each row
is exactly its command line), scored on the VALIDATION split under both protocols
(`--strict-validation`: probes trained on 80 % of train, early-stopped on the other
20 %) and on the test split (never used for selection). Two stages:

- `finetune` (the training options, issue 16): each row fine-tunes today's
  `dualdis_yaleb` preset for a fixed wall-clock budget (`--max-minutes`) at lr 1e-4
  with the preset's stage-2 settings (`--mirror --gain 4`, l_adv_z 0.3 from its
  config) and ONE option switched on; `control` switches none, so each option is
  read against it.
- `scratch` (the baselines and partial labels, issue 15): each row trains from
  scratch with `--mirror --gain 4` for the same budget.

Checkpoints are selected, as in `dualdis_yaleb`, on the paper-protocol validation
aggregate (every epoch). Writes `<output-dir>/<row>/` (the run's preset and
`metrics.json`), `<output-dir>/table.md` and `--results` (JSON: rows, commands,
budget, machine).

    python recipes/dualdis_yaleb_ablation.py --data-dir ../shared/data --stage finetune
    python recipes/dualdis_yaleb_ablation.py --stage finetune --summarize-only
    python recipes/dualdis_yaleb_ablation.py --data-dir ../shared/data --stage scratch --epochs 40 \
        --results docs/results/dualdis_yaleb_baselines.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
from typing import Literal

from lrep_zoo.recipe_config import build_parser, from_args, option, record

NAME = "dualdis_yaleb_ablation"
DESCRIPTION = "DualDis Yale-B ablation of the training options and the paper's baselines"

KEYS = ("aggregate", "y_acc", "z_acc", "y_adv_err", "z_adv_err")

# row -> (what it is, flags of recipes/dualdis_yaleb.py on top of the stage's own)
FINETUNE_ROWS = {
    "preset": ("today's dualdis_yaleb preset, not trained further", ["--epochs", "0"]),
    "control": ("fine-tuned, no option", []),
    "adv3_reset48": ("(a) 3 adversaries per code, re-initialised every 48 steps (staggered)",
                     ["--adversaries", "3", "--adversary-reset-every", "48"]),
    "adv_steps5": ("(b) 5 adversary steps per main step", ["--adversary-steps", "5"]),
    "noise_z1": ("(c) Gaussian noise (std 1) on h_z in training", ["--code-noise-z", "1.0"]),
    "negce_z": ("(d) gradient-reversal objective for z (-CE, `neg_ce`)",
                ["--adversarial-loss-z", "neg_ce"]),
}
SCRATCH_ROWS = {
    "dualdis": ("DualDis (y, z)", []),
    "adv_y": ("adv. on y only (Hadad 2018), y labels only",
              ["--variant", "adv_y", "--classification-weight-z", "0"]),
    "hybridnet_like": ("HybridNet-like (two branches + reconstruction), y labels only",
                       ["--variant", "multitask", "--classification-weight-z", "0"]),
    "hybridnet_like_attr": ("HybridNet-like + attribute labels (y, z)", ["--variant", "multitask"]),
    "multitask_classif": ("multi-task classification (no reconstruction)",
                          ["--variant", "multitask", "--reconstruction-weight", "0"]),
    "partial10": ("DualDis, 10 % of the lighting labels", ["--z-label-fraction", "0.1"]),
    "partial25": ("DualDis, 25 % of the lighting labels", ["--z-label-fraction", "0.25"]),
    "width16": ("(c') DualDis with a 16-unit h_z (code_width_z)", ["--code-width-z", "16"]),
}
STAGES = {"finetune": FINETUNE_ROWS, "scratch": SCRATCH_ROWS}


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train dualdis_yaleb_ablation`."""

    data_dir: str | None = option(None, help="folder with the Yale-B npz (default: "
                                             "$LREP_ZOO_DATA_DIR)")
    stage: Literal["finetune", "scratch"] = "finetune"
    rows: list[str] | None = option(None, nargs="+", help="rows to run (default: the stage's all)")
    max_minutes: float = option(7.0, help="training budget of each row (wall clock)")
    epochs: int | None = option(None, help="train each row exactly this many epochs instead "
                                           "(no wall-clock budget: fair on a loaded machine)")
    seed: int = 0
    seeds: list[int] | None = option(None, nargs="+", help="several seeds (replaces --seed): row R "
                                     "of seed S in <output-dir>/seed<S>/R; the table gives mean "
                                     "+- std over the seeds")
    init: str = option("applications/dualdis_yaleb", metavar="DIR",
                       help="the preset the finetune rows start from")
    output_dir: str | None = option(None, help=f"default: runs/{NAME}/<stage>; row R in <dir>/R")
    results: str = option(f"docs/results/{NAME}.json", help="JSON of the table")
    summarize_only: bool = option(False, help="run nothing; tabulate the rows already run")


def output_dir(config: Config) -> str:
    """The folder of the stage's rows."""
    return config.output_dir or os.path.join("runs", NAME, config.stage)


def seeds_of(config: Config) -> list[int]:
    """The seeds the rows are run with."""
    return list(config.seeds) if config.seeds else [config.seed]


def row_dir(config: Config, row: str, seed: int) -> str:
    """Folder of one row's run: `<dir>/R`, or `<dir>/seed<S>/R` with `--seeds`."""
    if config.seeds:
        return os.path.join(output_dir(config), f"seed{seed}", row)
    return os.path.join(output_dir(config), row)


def row_argv(config: Config, row: str, seed: int | None = None) -> list[str]:
    """The `dualdis_yaleb` recipe's flags for one row of the ablation."""
    seed = config.seed if seed is None else seed
    flags = STAGES[config.stage][row][1]
    if config.epochs is not None:
        budget = ["--epochs", str(config.epochs)]
    else:  # the wall-clock budget stops them first
        budget = ["--epochs", "40" if config.stage == "finetune" else "400",
                  "--max-minutes", str(config.max_minutes)]
    argv = ["--mirror", "--gain", "4", *budget, "--eval-every", "1", "--seed", str(seed),
            "--strict", "--strict-validation", "--verbose", "0",
            "--output-dir", row_dir(config, row, seed)]
    if config.data_dir:
        argv += ["--data-dir", config.data_dir]
    if config.stage == "finetune":
        argv += ["--init", config.init, "--learning-rate", "1e-4"]
    return argv + flags


def summarize(config: Config) -> dict:
    """Rows already run -> `{row: {what, seeds, commands, validation/test x paper/strict}}`
    and a markdown table (mean +- std over the seeds run); rows not run are left out."""
    import numpy as np

    rows = {}
    for row in config.rows or STAGES[config.stage]:
        runs = {}
        for seed in seeds_of(config):
            path = os.path.join(row_dir(config, row, seed), "metrics.json")
            if os.path.exists(path):
                with open(path) as f:
                    runs[seed] = json.load(f)
        if not runs:
            continue
        scores = {}
        for split in ("validation", "test"):
            for protocol in ("paper", "strict"):
                key = f"{split}_{protocol}"
                per_seed = [m[key] for m in runs.values() if key in m]
                if per_seed:
                    scores[key] = {k: float(np.mean([p[k] for p in per_seed])) for k in KEYS}
                    scores[key + "_std"] = {k: float(np.std([p[k] for p in per_seed])) for k in KEYS}
                    scores[key + "_per_seed"] = [{k: p[k] for k in KEYS} for p in per_seed]
        m = next(iter(runs.values()))
        rows[row] = {
            "what": STAGES[config.stage][row][0],
            "seeds": list(runs),
            "commands": [shlex.join(["python", "recipes/dualdis_yaleb.py", *row_argv(config, row, s)])
                         for s in runs],
            "selected_epoch": [r["selected_epoch"] for r in runs.values()],
            "epochs_run": [r["epochs_run"] for r in runs.values()],
            "train_time_s": [r["train_time_s"] for r in runs.values()],
            "backend": m["backend"], "machine": m["machine"], **scores,
        }
    lines = ["| row | seeds | split | protocol | aggr. | h_y->y | h_z->z | h_z->y_adv | h_y->z_adv |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        for split in ("validation", "test"):
            for protocol in ("paper", "strict"):
                mean, std = r.get(f"{split}_{protocol}"), r.get(f"{split}_{protocol}_std")
                if mean:
                    cells = " | ".join(f"{mean[k]:.1f}" + (f" +- {std[k]:.1f}" if len(r["seeds"]) > 1 else "")
                                       for k in KEYS)
                    lines.append(f"| {name} | {len(r['seeds'])} | {split} | {protocol} | {cells} |")
    return {"rows": rows, "table": "\n".join(lines)}


def main(argv: list[str] | None = None):
    """`lrep-zoo train dualdis_yaleb_ablation [flags]`."""
    parser = build_parser(Config, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    config = from_args(Config, parser.parse_args(argv))
    unknown = set(config.rows or ()) - set(STAGES[config.stage])
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)} for stage {config.stage!r}; "
                     f"known: {sorted(STAGES[config.stage])}")
    todo = [] if config.summarize_only else [
        (seed, row) for seed in seeds_of(config) for row in config.rows or STAGES[config.stage]]
    for seed, row in todo:
        out = row_dir(config, row, seed)
        if os.path.exists(os.path.join(out, "metrics.json")):
            continue
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "train.log"), "w") as log:
            subprocess.run([sys.executable, "-m", "lrep_zoo.recipes.dualdis_yaleb",
                            *row_argv(config, row, seed)], stdout=log, stderr=subprocess.STDOUT,
                           check=True)
    result = summarize(config)
    os.makedirs(output_dir(config), exist_ok=True)
    with open(os.path.join(output_dir(config), "table.md"), "w") as f:
        f.write(result["table"] + "\n")
    if config.results:
        os.makedirs(os.path.dirname(config.results) or ".", exist_ok=True)
        with open(config.results, "w") as f:
            json.dump({"recipe": NAME, **record(config),
                       "budget": (f"{config.epochs} epochs per row" if config.epochs is not None
                                  else f"{config.max_minutes} min wall clock per row"),
                       "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
                       **result}, f, indent=1)
    print(result["table"])
    return result


if __name__ == "__main__":
    main()
