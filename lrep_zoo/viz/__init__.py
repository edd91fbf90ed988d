"""Image grids: reconstructions, attribute edits, swaps, traversals, samples."""

from lrep_zoo.viz.grids import make_grid, save_grid, save_rows, to_uint8

__all__ = ["make_grid", "save_grid", "save_rows", "to_uint8"]
