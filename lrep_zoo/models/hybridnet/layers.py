"""HybridNet's own layer: the Mean Teacher's BatchNormalization."""

from __future__ import annotations

from lrep_zoo.layers.batch_normalization import BatchNormalization


class TeacherBatchNormalization(BatchNormalization):
    """`BatchNormalization` of the frozen Mean Teacher: batch statistics when training.

    A non-trainable Keras `BatchNormalization` normalises with its moving
    statistics even with `training=True`. The Mean Teacher (Tarvainen &
    Valpola 2017) runs in training mode like the student: it normalises with
    the statistics of the batch and updates its own moving statistics (used at
    inference), while its weights only follow the EMA. With moving statistics
    the teacher's targets are wrong for the first hundreds of steps (the
    moving variance starts at 1) and the stability term drags the student
    down with them. Like the student's `lrep_zoo.layers.BatchNormalization`,
    it runs on the backend's fused kernel. `renorm` is not supported (it
    behaves as Keras' frozen layer).
    """

    def uses_batch_statistics(self, training) -> bool:
        return bool(training)
