"""TFDS-style split strings (`"train"`, `"train[:1000]"`, `"test[50%:]"`) for in-memory arrays."""

import re

_SPLIT_RE = re.compile(r"^\s*(\w+)\s*(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?\s*$")


def parse_split(split: str) -> tuple[str, str | None, str | None]:
    """Returns `(base, start, stop)`, e.g. `"train[:10%]"` -> `("train", None, "10%")`."""
    match = _SPLIT_RE.match(split) if isinstance(split, str) else None
    if match is None:
        raise ValueError(
            f"Unsupported split {split!r}: use a split name with an optional slice, "
            "e.g. 'train', 'test[:1000]' or 'train[10%:]'."
        )
    return match.group(1), match.group(2), match.group(3)


def split_slice(split: str, num_examples: int) -> slice:
    """The `slice` that `split` selects in a split of `num_examples` rows."""
    _, start, stop = parse_split(split)
    return slice(_bound(start, num_examples), _bound(stop, num_examples))


def _bound(value, n):
    if value is None:
        return None
    if value.endswith("%"):
        return round(int(value[:-1]) * n / 100)
    return int(value)
