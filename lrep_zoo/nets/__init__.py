"""Network builders: functional `keras.Model` factories, each shape in one place."""

from lrep_zoo.nets.classifiers import alexnet, lenet, mlp

__all__ = ["alexnet", "lenet", "mlp"]
