"""Focal points on a raster graph: which node each id sits on, and its component."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..grid import RasterGraph


@dataclass
class FocalNodes:
    """Per focal id: representative cell, node key (-1 = no node) and component (0 = none)."""

    ids: list[int]
    cells: dict[int, np.ndarray]
    rep: np.ndarray  # flat cell index per id
    key: np.ndarray  # node key per id: merged region -> -(region), own cell -> cell index; -1 no node
    comp: np.ndarray  # component per id

    @classmethod
    def locate(cls, graph: RasterGraph, cells: dict[int, np.ndarray]) -> "FocalNodes":
        ids = sorted(cells)
        g = graph.g.ravel()
        merge = graph.merge.ravel()
        regions = merge if graph.regions is None else graph.regions.ravel()
        comps = graph.components.ravel()
        first_node = {}  # region -> first node cell, to inject current at
        if (merge > 0).any():
            cells_in = np.flatnonzero(merge > 0)
            labs, first = np.unique(merge[cells_in], return_index=True)
            first_node = dict(zip(labs.tolist(), cells_in[first].tolist()))
        rep, key, comp = [], [], []
        for pid in ids:
            r = int(np.asarray(cells[pid])[0])  # the first cell decides, as in Circuitscape
            if regions[r] > 0:  # in a short-circuit region: the region's node (even on nodata)
                r = first_node[int(regions[r])]
                key.append(-int(merge[r]) - 1)
                comp.append(int(comps[r]))
            elif g[r] > 0:
                key.append(r)
                comp.append(int(comps[r]))
            else:
                key.append(-1)
                comp.append(0)
            rep.append(r)
        return cls(ids, {i: cells[i] for i in ids}, np.array(rep), np.array(key), np.array(comp))

    @property
    def has_regions(self) -> bool:
        return any(len(self.cells[i]) > 1 for i in self.ids)

    def region_labels(self, shape, which=None) -> np.ndarray:
        """Label raster: cells of each focal id (or of ``which`` ids) get that id's position + 1."""
        out = np.zeros(int(np.prod(shape)), dtype=np.int64)
        for pos, pid in enumerate(self.ids):
            if which is None or pid in which:
                out[self.cells[pid]] = pos + 1
        return out.reshape(shape)
