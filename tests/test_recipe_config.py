"""Recipe configs: flags come from the dataclasses and parse back into them."""

import ast
import dataclasses
import importlib
import pkgutil
from pathlib import Path
from typing import Literal

import pytest

import lrep_zoo.recipes
from lrep_zoo.recipe_config import build_parser, from_args, option, parse, record, to_argv

RECIPES = sorted(i.name for i in pkgutil.iter_modules(lrep_zoo.recipes.__path__)
                 if not i.name.startswith("_"))


@dataclasses.dataclass
class _Config:
    steps: int = option(10, help="SGD steps")
    rate: float | None = None
    arch: Literal["mlp", "lenet"] = "mlp"
    seeds: list[int] = option([0, 1])
    pair: list[int] = option([8, 16], nargs=2)
    weight: list[str] = option([], append=True, metavar="REG=W")
    jit: bool = True
    strict: bool = False
    mode: str | None = option(None, recorded=False)


def test_flags_defaults_and_round_trip():
    parser = build_parser(_Config, prog="t")
    assert from_args(_Config, parser.parse_args([])) == _Config()
    config = parse(_Config, ["--steps", "3", "--rate", "0.5", "--arch", "lenet", "--seeds", "4",
                             "--pair", "1", "2", "--weight", "a=1", "--weight", "b=2",
                             "--no-jit", "--strict"])
    assert config == _Config(steps=3, rate=0.5, arch="lenet", seeds=[4], pair=[1, 2],
                             weight=["a=1", "b=2"], jit=False, strict=True)
    assert parse(_Config, to_argv(config)) == config
    assert to_argv(_Config()) == []
    assert "mode" not in record(config) and record(config)["seeds"] == [4]
    assert _Config().seeds is not _Config().seeds  # list defaults are copied
    for bad in (["--arch", "resnet"], ["--pair", "1"], ["--jit"]):
        with pytest.raises(SystemExit):
            parse(_Config, bad)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_parses_its_defaults(name):
    module = importlib.import_module(f"lrep_zoo.recipes.{name}")
    assert module.DESCRIPTION and callable(module.main)
    config = parse(module.Config, [])
    assert config == module.Config()
    assert parse(module.Config, to_argv(config, changed_only=False)) == config


def test_no_recipe_imports_another():
    for path in Path(lrep_zoo.recipes.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for imported in names:
                assert not imported.startswith("lrep_zoo.recipes"), (path.name, imported)
                assert imported not in RECIPES, (path.name, imported)
