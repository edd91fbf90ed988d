"""Network builders: functional `keras.Model` factories, each shape in one place."""

from lrep_zoo.nets.classifiers import alexnet, mlp

__all__ = ["alexnet", "mlp"]
