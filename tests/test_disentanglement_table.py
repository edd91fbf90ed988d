"""Smoke run of recipes/disentanglement_table.py on a tiny config (TensorFlow pass only)."""

import json

import numpy as np
import pytest

from lrep_zoo.recipes import disentanglement_table as recipe

TINY = dict(
    seeds=[0], relit_size=16, relit_identities=3, train_images=64, epochs=1, yaleb_epochs=1,
    num_points=300, metric_batch_size=8, beta_vae_train=40, beta_vae_eval=20,
    factor_vae_train=40, factor_vae_eval=20, variance_points=200, latent_dim=4,
)


def test_tiny_table(tmp_path, shared_data_dir):
    base = dict(output_dir=str(tmp_path), data_dir=str(shared_data_dir), **TINY)
    results = recipe.run(recipe.Config(datasets=["relit"], methods=["pixels", "pca", "beta_vae"], **base))
    runs = results["runs"]
    assert [r["representation"] for r in runs] == ["raw pixels", "PCA", "beta-VAE"]
    for r in runs:
        for metric in recipe.METRICS:
            assert 0.0 <= r[metric] <= 1.0, (r["representation"], metric, r[metric])
    by_row = {r["representation"]: r for r in runs}
    # The light direction is written all over the pixels: the beta-VAE metric finds the
    # fixed factor well above chance (1/3) from PCA codes, and the lasso predicts the
    # factors from the pooled pixels (R^2 of azimuth and elevation near 1).
    assert by_row["PCA"]["beta_vae"] > 0.6
    assert by_row["raw pixels"]["dci_i"] > 0.6
    assert (tmp_path / "traversals_beta_vae_seed0.png").stat().st_size > 0
    assert results["best_beta_vae"].endswith("traversals_beta_vae_seed0.png")
    assert results["command"].startswith("lrep-zoo train disentanglement_table")

    # --resume: relit pixels is in runs.jsonl (not redone); Yale-B pixels is added.
    both = recipe.run(recipe.Config(datasets=["relit", "yaleb"], methods=["pixels"], resume=True, **base))
    assert [(r["dataset"], r["representation"]) for r in both["runs"]] == [
        ("relit", "raw pixels"), ("relit", "PCA"), ("relit", "beta-VAE"), ("yaleb", "raw pixels")]
    assert both["runs"][3]["code_dims"] == 8 * 7
    assert both["summary"]["relit/PCA"]["mig"] == results["summary"]["relit/PCA"]["mig"]

    # --summarize-only: the tables of every run in runs.jsonl, nothing trained.
    summary = recipe.run(recipe.Config(summarize_only=True, **base))
    assert len(summary["runs"]) == 4
    table = (tmp_path / "table.md").read_text()
    assert "| beta-VAE | 1 |" in table and "Extended Yale-B" in table and "Relit surfaces" in table
    assert json.loads((tmp_path / "results.json").read_text())["summary"].keys() == summary["summary"].keys()


def test_helpers_and_bad_config(tmp_path):
    np.testing.assert_array_equal(recipe.light_cell([-50.0, 0.0, 50.0], [35.0, 0.0, -35.0]), [0, 4, 8])
    pooled = recipe.box_pool(np.full((2, 33, 32, 1), 255, "uint8"), 4)
    assert pooled.shape == (2, 8, 8, 1) and np.allclose(pooled, 1.0)
    with pytest.raises(ValueError, match="seeds"):
        recipe.run(recipe.Config(output_dir=str(tmp_path), seeds=[]))
    with pytest.raises(ValueError, match="num_points"):
        recipe.run(recipe.Config(output_dir=str(tmp_path), num_points=3))
