"""Registered DualDis presets (files and cards: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import DualDis
model = DualDis.from_preset("dualdis_yaleb")
baseline = DualDis.from_preset("dualdis_yaleb_multitask")
invariant = DualDis.from_preset("dualdis_yaleb_invariant")
disentangled = DualDis.from_preset("dualdis_yaleb_disentangled")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="dualdis_yaleb",
        model="DualDis",
        weights="yaleb",
        sha256="c59b828b423e300d9a954d1b5dd5f690d2756f17ad9330ddd53f66bb65056aa4",
        description="DualDis identity / lighting disentangling, Extended Yale-B (192x168x1 in)",
        recipe="dualdis_yaleb",
    )
)

register_preset(
    Preset(
        name="dualdis_yaleb_multitask",
        model="DualDis",
        weights="yaleb_multitask",
        sha256="e1ab7e5de7d038882e61804a7e91301428d4dc7155789103a71f794d1c704c61",
        description="Multi-task baseline of dualdis_yaleb (no adversarial terms), Extended Yale-B",
        recipe="dualdis_yaleb",
    )
)

register_preset(
    Preset(
        name="dualdis_yaleb_invariant",
        model="DualDis",
        weights="yaleb_invariant",
        sha256="2979eb05c2768ba5931526a2d6d5022fcfa01da585d2d1639a88f56252740415",
        description="dualdis_yaleb fine-tuned with the class-invariance terms (codes a fresh "
                    "probe reads far less of the other factor from), Extended Yale-B",
        recipe="dualdis_yaleb",
    )
)

register_preset(
    Preset(
        name="dualdis_yaleb_disentangled",
        model="DualDis",
        weights="yaleb_disentangled",
        sha256="6379e168e7a92adf9c57fe1bbcb7b9b10c567508482cb69849920c04ee18d9b3",
        description="dualdis_yaleb fine-tuned with class invariance, a 16-unit h_z and "
                    "identity-grouped batches (fresh probes read neither factor from the "
                    "other's code), Extended Yale-B",
        recipe="dualdis_yaleb",
    )
)
