"""The common tail of every `tf.data` pipeline: shuffle, repeat, batch, normalise, prefetch."""

import tensorflow as tf


def normalize(images: tf.Tensor, value_range: tuple[float, float] | None = (0.0, 1.0)) -> tf.Tensor:
    """Maps uint8 images to float32 in `value_range` (`None` keeps uint8).

    `0` maps exactly to `value_range[0]` and `255` exactly to `value_range[1]`.
    """
    if value_range is None:
        return images
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}.")
    x = tf.cast(images, tf.float32) / 255.0
    if (low, high) != (0.0, 1.0):
        x = x * (high - low) + low
    return x


def finalize(
    ds: tf.data.Dataset,
    *,
    batch_size: int | None,
    shuffle: bool,
    shuffle_buffer: int,
    seed: int,
    repeat: bool,
    value_range: tuple[float, float] | None,
    drop_remainder: bool,
    with_labels: bool,
) -> tf.data.Dataset:
    """Applies shuffle -> repeat -> batch -> normalise -> prefetch to `(image, label)` examples."""
    if value_range is not None:
        normalize(tf.zeros((), tf.uint8), value_range)  # validate eagerly
    if not with_labels:
        ds = ds.map(lambda x, y: x, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if value_range is not None:
        if with_labels:
            ds = ds.map(
                lambda x, y: (normalize(x, value_range), y), num_parallel_calls=tf.data.AUTOTUNE
            )
        else:
            ds = ds.map(lambda x: normalize(x, value_range), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
