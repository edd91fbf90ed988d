"""Registered siamese presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import Siamese
model = Siamese.from_preset("siamese_yaleb")  # = lrep_zoo.applications.Siamese(weights="yaleb")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="siamese_yaleb",
        model="Siamese",
        weights="yaleb",
        sha256="66c849f381dfb5153bb63afffdb8fbfc91b2ef2d3fcd6fefc5ec8377ba74cb94",
        description="Siamese face embedding (cosine contrastive loss), Extended Yale-B "
                    "identities 0-27, 48x42x1 in; one-shot identification of unseen faces",
        recipe="siamese_yaleb",
    )
)
