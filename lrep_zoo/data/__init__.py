"""Image datasets as `tf.data` pipelines: TFDS, offline npz folders, procedural shapes.

Example:

```python
import lrep_zoo

train = lrep_zoo.data.load("mnist", "train", batch_size=128)          # (images, labels)
x, y = lrep_zoo.data.load_arrays("cifar10", "train")                  # uint8 NHWC, int64
ssl = lrep_zoo.data.semi_supervised(x, y, 1000, batch_size=100, labelled_per_batch=25)
images, labels = next(iter(ssl))   # (100, 32, 32, 3) float32; 25 labels, then 75 of -1
demo = lrep_zoo.data.load("shapes", "train")                          # no download
```

Offline machines: set `LREP_ZOO_DATA_DIR` to a folder holding `<name>/*.npz`
files with `x_train`, `y_train`, `x_test`, `y_test` arrays (see
`lrep_zoo.data.local`), or pass a prepared TFDS folder as `data_dir=`.
"""

from lrep_zoo.data import cluttered_mnist
from lrep_zoo.data import procedural
from lrep_zoo.data.catalog import DatasetInfo
from lrep_zoo.data.catalog import dataset_info
from lrep_zoo.data.catalog import list_datasets
from lrep_zoo.data.datasets import load
from lrep_zoo.data.datasets import load_arrays
from lrep_zoo.data.errors import DatasetNotFoundError
from lrep_zoo.data.semi_supervised import semi_supervised
from lrep_zoo.data.semi_supervised import split_labelled

__all__ = [
    "cluttered_mnist",
    "DatasetInfo",
    "DatasetNotFoundError",
    "dataset_info",
    "list_datasets",
    "load",
    "load_arrays",
    "procedural",
    "semi_supervised",
    "split_labelled",
]
