"""Edge conductances of a raster graph, stored per direction, and the slices that shift a grid.

Each direction's weights are a full ``(m, n)`` array (zero where the neighbour does not exist):

* ``e[i, j]``  links (i, j)-(i, j+1)      * ``s[i, j]``  links (i, j)-(i+1, j)
* ``se[i, j]`` links (i, j)-(i+1, j+1)    * ``sw[i, j]`` links (i, j)-(i+1, j-1)

The graph (``grid``), the operators and the solver's multigrid all index edges this way.
"""
from __future__ import annotations

from dataclasses import dataclass

from .backend import array_module


@dataclass
class GridEdges:
    """Edge conductances of a raster graph (``se``/``sw`` are None for 4 neighbours)."""

    e: object
    s: object
    se: object | None = None
    sw: object | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.e.shape)

    def directions(self):
        """(weights, di, dj) for each stored direction; the neighbour is (i+di, j+dj)."""
        out = [(self.e, 0, 1), (self.s, 1, 0)]
        if self.se is not None:
            out += [(self.se, 1, 1), (self.sw, 1, -1)]
        return out

    def degree(self, dtype=None):
        """Sum of the weights incident to each cell (in ``dtype``, default the weights')."""
        xp = array_module(self.e)
        d = xp.zeros(self.shape, dtype=dtype or self.e.dtype)
        for w, di, dj in self.directions():
            d += w
            shifted_add(d, w, di, dj)
        return d

    def masked(self, keep, inplace: bool = False) -> "GridEdges":
        """Edges with both ends in ``keep`` (bool (m, n)); ``inplace`` zeroes the others in these
        arrays instead of copying them (for arrays the caller owns: no second copy at scale)."""
        def one(w, di, dj):
            if w is None:
                return None
            xp = array_module(w)
            both = keep & neighbour_view(keep, di, dj, fill=False)
            return xp.multiply(w, both, out=w) if inplace else xp.where(both, w, 0)
        return GridEdges(*(one(w, di, dj) for w, di, dj in self.all_directions()))

    def astype(self, dtype) -> "GridEdges":
        return GridEdges(*(None if w is None else w.astype(dtype, copy=False) for w, _, _ in self.all_directions()))

    def all_directions(self):
        """(weights or None, di, dj) for all four directions, 8-neighbour ones included."""
        return [(self.e, 0, 1), (self.s, 1, 0), (self.se, 1, 1), (self.sw, 1, -1)]


def shift_slices(di: int, dj: int):
    """(source, target) slices so that target cell = source cell + (di, dj)."""
    def pair(d):
        if d == 0:
            return slice(None), slice(None)
        if d > 0:
            return slice(None, -d), slice(d, None)
        return slice(-d, None), slice(None, d)
    si, ti = pair(di)
    sj, tj = pair(dj)
    return (Ellipsis, si, sj), (Ellipsis, ti, tj)


def col_slices(dj: int):
    """(source, target) column slices for a column offset dj."""
    if dj > 0:
        return slice(0, -dj), slice(dj, None)
    if dj < 0:
        return slice(-dj, None), slice(0, dj)
    return slice(None), slice(None)


def shifted_add(out, w, di, dj):
    """out[i+di, j+dj] += w[i, j]."""
    src, dst = shift_slices(di, dj)
    out[dst] += w[src]


def neighbour_view(a, di, dj, fill):
    """b[i, j] = a[i+di, j+dj] (``fill`` outside)."""
    xp = array_module(a)
    b = xp.full(a.shape, fill, dtype=a.dtype)
    src, dst = shift_slices(di, dj)
    b[src] = a[dst]
    return b
