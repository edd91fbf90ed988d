"""`evaluate_dualdis`: Yale-B test scores under both protocols, next to the published rows."""

from __future__ import annotations

from lrep_zoo.data import yaleb
from lrep_zoo.models.dualdis import metrics, probes


def evaluate_dualdis(model, data_dir=None, baseline=None, strict: bool = True, seed: int = 0,
                     data: dict | None = None, name: str = "DualDis") -> dict:
    """Yale-B test scores of a DualDis model (and optionally a baseline) under both
    protocols, next to the published rows. Used by `lrep-zoo evaluate dualdis_yaleb`.

    Args:
        model: The DualDis model (e.g. `applications.DualDis(weights="yaleb")`).
        data_dir: Folder with `yaleb_cropped/yaleb_cropped_192x168.npz` (or
            `$LREP_ZOO_DATA_DIR`).
        baseline: Optional second model (the multi-task baseline), same scores.
        strict: Also run protocol (b) (fresh probes; about a minute per model on CPU).
        data: Already loaded splits (`lrep_zoo.data.yaleb.load_yaleb_npz`), instead of
            `data_dir`.
        name: The model's name in the rows (`"multi-task"` when `model` is the baseline).

    Returns:
        `{"rows": {name: scores}, "references": {...}, "table": markdown}`.
    """
    if data is None:
        data = yaleb.load_yaleb_npz(data_dir)
    test, train = data["test"], data["train"]
    rows = {
        "DualDis (paper)": metrics.PAPER_YALEB["dualdis"],
        "multi-task classif. (paper)": metrics.PAPER_YALEB["multitask"],
    }
    models = {name: model}
    if baseline is not None:
        models["multi-task"] = baseline
    for name, m in models.items():
        rows[f"{name} (ours, paper protocol)"] = metrics.paper_scores(m, test["image"], test["identity"], test["lighting"])
        if strict:
            s = probes.strict_scores(m, data, seed=seed)
            s.pop("ceiling")
            rows[f"{name} (ours, strict protocol)"] = s
    references = {
        "random classifier (paper's best value)": metrics.random_reference(model.num_classes_y, model.num_classes_z),
        "majority class (strict ceiling)": metrics.majority_reference(
            train["identity"], train["lighting"], test["identity"], test["lighting"]),
    }
    table = metrics.format_table(rows, "Extended Yale-B, test split (%)")
    table += "\n" + "\n".join(
        f"reference, {k}: h_z->y_adv {v['y_adv_err']:.1f}, h_y->z_adv {v['z_adv_err']:.1f}"
        for k, v in references.items())
    return {"rows": rows, "references": references, "table": table}
