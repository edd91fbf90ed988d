"""Helpers shared by the model packages: serialisation of user-supplied sub-networks in
model configs, and the base size of upsampling decoders."""

from __future__ import annotations

import copy

import keras

NETWORKS = ("encoder", "decoder")


def serialize_networks(model, config: dict, names=NETWORKS) -> dict:
    """Adds the serialised sub-networks to `config` when the user supplied them."""
    if model.custom_networks:
        for name in names:
            config[name] = keras.saving.serialize_keras_object(getattr(model, name))
    return config


def deserialize_networks(config: dict, names=NETWORKS) -> dict:
    """A copy of `config` with serialised sub-networks rebuilt as Keras models.

    The copy is deep: Keras' deserialisation consumes the nested dicts, and the
    caller's config must survive (`from_config(config)` twice gives two models).
    """
    config = copy.deepcopy(config)
    for name in names:
        if isinstance(config.get(name), dict):
            config[name] = keras.saving.deserialize_keras_object(config[name])
    return config


def base_size(image_shape, n_up):
    """Height and width before `n_up` stride-2 upsamplings to `image_shape`."""
    h, w, _ = image_shape
    scale = 2**n_up
    if h % scale or w % scale:
        raise ValueError(
            f"Image height and width must be divisible by {scale}, got {tuple(image_shape)}."
        )
    return h // scale, w // scale
