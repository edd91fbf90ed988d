"""Loss functions: pure `keras.ops` functions, usable on every backend."""

from lrep_zoo.losses.branch_balancing import (
    branch_balancing_loss,
    branch_balancing_mask,
    intermediate_reconstruction_loss,
    labelled_mask,
    masked_sparse_categorical_crossentropy,
    per_sample_squared_error,
    stability_loss,
)

__all__ = [
    "branch_balancing_loss",
    "branch_balancing_mask",
    "intermediate_reconstruction_loss",
    "labelled_mask",
    "masked_sparse_categorical_crossentropy",
    "per_sample_squared_error",
    "stability_loss",
]
