"""DualDis: the model, its networks and `AreaResize`, both scoring protocols (metrics,
probes), edit/swap grids and the relit-surfaces demo."""

from lrep_zoo.models.dualdis import networks
from lrep_zoo.models.dualdis.dualdis import DualDis
from lrep_zoo.models.dualdis.layers import AreaResize
from lrep_zoo.models.dualdis import presets  # registers dualdis_yaleb, _multitask, _invariant

__all__ = ["AreaResize", "DualDis", "networks"]
