"""The datasets `lrep_zoo.data` knows: image shape, labels and TFDS names."""

import dataclasses

ENV_DATA_DIR = "LREP_ZOO_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset.

    Attributes:
        name: name used by `lrep_zoo.data.load`.
        image_shape: `(height, width, channels)` of one image.
        num_classes: number of classes, or the number of binary attributes
            for multi-label datasets (`celeb_a`).
        splits: official split names with their number of examples.
        tfds_name: TFDS name, or `None` for procedural datasets.
        image_key: TFDS feature holding the image.
        label_key: TFDS feature holding the label (a nested `FeaturesDict`
            of booleans is stacked into an int64 vector, keys sorted).
        label_names: class (or attribute) names, when known.
        download_url: a URL the TFDS builder downloads from; its host is probed
            before downloading so that offline machines fail fast.
    """

    name: str
    image_shape: tuple
    num_classes: int
    splits: dict
    tfds_name: str | None = None
    image_key: str = "image"
    label_key: str = "label"
    label_names: tuple = ()
    download_url: str = ""

    @property
    def multi_label(self) -> bool:
        return self.name == "celeb_a"


CELEB_A_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

SHAPE_NAMES = ("disk", "square", "triangle", "ring", "cross")

_DATASETS = (
    DatasetInfo(
        "mnist", (28, 28, 1), 10, {"train": 60000, "test": 10000}, "mnist",
        label_names=tuple(str(i) for i in range(10)),
        download_url="https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    DatasetInfo(
        "cifar10", (32, 32, 3), 10, {"train": 50000, "test": 10000}, "cifar10",
        label_names=("airplane", "automobile", "bird", "cat", "deer",
                     "dog", "frog", "horse", "ship", "truck"),
        download_url="https://www.cs.toronto.edu/~kriz/",
    ),
    DatasetInfo(
        "svhn_cropped", (32, 32, 3), 10, {"train": 73257, "test": 26032, "extra": 531131},
        "svhn_cropped", label_names=tuple(str(i) for i in range(10)),
        download_url="http://ufldl.stanford.edu/housenumbers/",
    ),
    DatasetInfo(
        "stl10", (96, 96, 3), 10, {"train": 5000, "test": 8000, "unlabelled": 100000}, "stl10",
        label_names=("airplane", "bird", "car", "cat", "deer",
                     "dog", "horse", "monkey", "ship", "truck"),
        download_url="http://ai.stanford.edu/~acoates/stl10/",
    ),
    DatasetInfo(
        "smallnorb", (96, 96, 1), 5, {"train": 24300, "test": 24300}, "smallnorb",
        label_key="label_category",
        label_names=("four-legged animal", "human figure", "airplane", "truck", "car"),
        download_url="https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/",
    ),
    DatasetInfo(
        "celeb_a", (218, 178, 3), 40, {"train": 162770, "validation": 19867, "test": 19962},
        "celeb_a", label_key="attributes", label_names=CELEB_A_ATTRIBUTES,
        download_url="https://drive.google.com/",
    ),
    DatasetInfo("shapes", (28, 28, 1), len(SHAPE_NAMES), {"train": 10000, "test": 2000},
                label_names=SHAPE_NAMES),
)  # fmt: skip

DATASETS = {info.name: info for info in _DATASETS}


def list_datasets() -> list[str]:
    """Names accepted by `lrep_zoo.data.load`."""
    return sorted(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """Returns the `DatasetInfo` of `name`.

    Example:

    ```python
    import lrep_zoo

    lrep_zoo.data.dataset_info("cifar10").image_shape  # (32, 32, 3)
    ```

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(list_datasets())}."
        ) from None
