"""MSPA against a plain implementation of the class definitions (pixel loops and BFS, no ndimage)."""
import math
from collections import deque

import numpy as np
import pytest

from gpucircuit.analysis import mspa as M
from gpucircuit.errors import InputError
from devices import cupy_or_none

EIGHT = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
FOUR = [(-1, 0), (0, -1), (0, 1), (1, 0)]


def plain_mspa(fg, miss, w, conn, int_ext=False):
    """The module docstring's definitions, literally: loops over pixels, breadth-first search."""
    R = w + 0.98
    pad = math.ceil(2 * R) + 2
    m0, n0 = fg.shape
    m, n = m0 + 2 * pad, n0 + 2 * pad
    fnb, bnb = (EIGHT, FOUR) if conn == 8 else (FOUR, EIGHT)
    r = int(R)
    disk = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= R * R]

    def src(i, j):
        i, j = min(max(i - pad, 0), m0 - 1), min(max(j - pad, 0), n0 - 1)
        return 2 if miss[i, j] else (1 if fg[i, j] else 0)

    state = [[src(i, j) for j in range(n)] for i in range(m)]
    cells = [(i, j) for i in range(m) for j in range(n)]

    def around(i, j, offs):
        for dy, dx in offs:
            if 0 <= i + dy < m and 0 <= j + dx < n:
                yield i + dy, j + dx

    F = {p for p in cells if state[p[0]][p[1]] == 1 or
         (state[p[0]][p[1]] == 2 and any(state[a][b] == 1 for a, b in around(*p, disk)))}
    core = {p for p in F if all(q in F for q in around(*p, disk))}

    def components(pixels, nbrs):
        lab, k = {}, 0
        for p in sorted(pixels):
            if p in lab:
                continue
            k += 1
            lab[p] = k
            queue = deque([p])
            while queue:
                q = queue.popleft()
                for s in around(*q, nbrs):
                    if s in pixels and s not in lab:
                        lab[s] = k
                        queue.append(s)
        return lab

    def touching_border(pixels, nbrs):
        lab = components(pixels, nbrs)
        hit = {lab[p] for p in pixels if p[0] in (0, m - 1) or p[1] in (0, n - 1)}
        return {p for p in pixels if lab[p] in hit}

    flab = components(F, fnb)
    with_core = {flab[p] for p in core}
    islet = {p for p in F if flab[p] not in with_core}
    ring = {p for p in cells if p not in core and any(q in core for q in around(*p, disk))}
    assert ring <= F
    outer, remaining = set(), set(core)
    everything = set(cells)
    while remaining:
        holes = (everything - remaining) - touching_border(everything - remaining, bnb)
        filled = remaining | holes
        outer |= {p for p in everything - filled if any(q in filled for q in around(*p, disk))}
        remaining = remaining - touching_border(everything - holes, fnb)
    edge, perforation = ring & outer, ring - outer
    residue = F - core - ring - islet
    clab = components(core, fnb)
    rlab = components(residue, fnb)
    kind = {}
    for k in set(rlab.values()):
        comp = {p for p in residue if rlab[p] == k}
        contacts = {q for q in ring if any(s in comp for s in around(*q, fnb))}
        cores = {clab[s] for q in contacts for s in around(*q, disk) if s in core}
        groups = len(set(components(contacts, fnb).values()))
        kind[k] = M.BRIDGE if len(cores) >= 2 else (M.LOOP if groups >= 2 else M.BRANCH)
    inside, fg_holes = set(), set()
    if int_ext:
        core_holes = (everything - core) - touching_border(everything - core, bnb)
        inside = everything - touching_border(everything - core_holes, bnb)
        fg_holes = (everything - F) - touching_border(everything - F, bnb)
    out = np.zeros((m0, n0), dtype=np.uint8)
    for i in range(m0):
        for j in range(n0):
            p = (i + pad, j + pad)
            if miss[i, j]:
                out[i, j] = M.MISSING
            elif p in core:
                out[i, j] = M.CORE
            elif p in islet:
                out[i, j] = M.ISLET
            elif p in edge:
                out[i, j] = M.EDGE
            elif p in perforation:
                out[i, j] = M.PERFORATION
            elif p in residue:
                out[i, j] = kind[rlab[p]]
            elif p in fg_holes and p not in inside:
                out[i, j] = M.BORDER_OPENING
            if p in inside and not miss[i, j]:
                out[i, j] += M.INTERNAL
    return out


def hand_drawn():
    a = np.zeros((28, 42), bool)
    a[2:13, 2:15] = True
    a[6:9, 7:10] = False                                           # hole: perforation
    a[2:13, 25:38] = True
    a[4, 15:25] = True                                             # bridge between the two cores
    a[13:17, 4] = a[16, 4:13] = a[13:17, 12] = True                # loop back onto the first core
    a[13:19, 30] = True                                            # branch
    a[21:23, 20:22] = True                                         # islet
    return a


def nested():
    a = np.zeros((30, 30), bool)
    a[1:29, 1:29] = True
    a[7:23, 7:23] = False                                          # a lake in the core ...
    a[11:19, 11:19] = True                                         # ... holding an island
    return a


def random_map(seed, shape=(30, 34)):
    rng = np.random.default_rng(seed)
    base = np.kron(rng.random((shape[0] // 3 + 1, shape[1] // 3 + 1)) > 0.42, np.ones((3, 3), bool))
    fg = base[:shape[0], :shape[1]] ^ (rng.random(shape) < 0.07)
    miss = rng.random(shape) < 0.03
    miss[rng.integers(0, shape[0]), :] |= rng.random() < 0.5          # sometimes a missing scan line
    return fg, miss


def check_partition(classes, fg, miss):
    codes = {c for _, c in M.CLASSES}
    assert np.all(classes[miss] == M.MISSING)
    assert np.all(classes[~fg & ~miss] == M.BACKGROUND)
    assert np.all(np.isin(classes[fg & ~miss], list(codes)))


def test_hand_drawn_every_class_and_plain_agree():
    fg = hand_drawn()
    miss = np.zeros_like(fg)
    got = M.mspa(fg, xp=np)
    assert np.array_equal(got, plain_mspa(fg, miss, 1, 8))
    check_partition(got, fg, miss)
    present = {c for c in np.unique(got)}
    assert {c for _, c in M.CLASSES} <= present
    assert got[4, 20] == M.BRIDGE and got[16, 8] == M.LOOP and got[17, 30] == M.BRANCH
    assert got[21, 20] == M.ISLET and got[5, 8] == M.PERFORATION and got[2, 8] == M.EDGE and got[8, 4] == M.CORE


def test_nested_island_has_edge_inside_perforation():
    fg = nested()
    got = M.mspa(fg, xp=np)
    assert np.array_equal(got, plain_mspa(fg, np.zeros_like(fg), 1, 8))
    assert got[6, 15] == M.PERFORATION and got[11, 15] == M.EDGE and got[15, 15] == M.CORE
    assert got[1, 15] == M.EDGE


SEEDS = (14, 16, 34)      # maps that also hold loops (checked below)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("conn", [8, 4])
@pytest.mark.parametrize("w", [1, 2, 3])
def test_random_maps_match_plain_definition(seed, conn, w):
    fg, miss = random_map(seed)
    got = M.mspa(fg, miss, edge_width=w, connectivity=conn, xp=np)
    check_partition(got, fg, miss)
    assert np.array_equal(got, plain_mspa(fg, miss, w, conn))


def test_random_maps_hold_the_connectors():
    """The random cases are not trivial: together they show every class."""
    seen = set()
    for seed in SEEDS:
        for w in (1, 2):
            fg, miss = random_map(seed)
            seen |= set(np.unique(M.mspa(fg, miss, edge_width=w, xp=np)).tolist())
    assert {c for _, c in M.CLASSES} <= seen


def test_edge_width_thins_core():
    fg = np.zeros((20, 20), bool)
    fg[2:18, 2:18] = True
    c1, c2 = (M.mspa(fg, edge_width=w, xp=np) for w in (1, 2))
    assert np.count_nonzero(c1 == M.CORE) == 14 * 14 and np.count_nonzero(c2 == M.CORE) == 12 * 12


def test_stats_and_errors():
    fg = hand_drawn()
    got = M.mspa(fg, xp=np)
    rows = M.mspa_stats(got, 30.0 * 30.0)
    assert sum(r["pixels"] for r in rows) == fg.sum()
    assert abs(sum(r["share_pct"] for r in rows) - 100) < 1e-9
    core = next(r for r in rows if r["class"] == "core")
    assert core["area_km2"] == pytest.approx(np.count_nonzero(got == M.CORE) * 900 / 1e6)
    with pytest.raises(InputError, match="edge width"):
        M.mspa(fg, edge_width=0)
    with pytest.raises(InputError, match="connectivity"):
        M.mspa(fg, connectivity=6)
    assert np.all(M.mspa(np.zeros((12, 12), bool), xp=np) == 0)


@pytest.mark.parametrize("conn", [8, 4])
def test_wide_edges_use_the_distance_transform_and_match(conn):
    """EdgeWidth 4 has a disk of more than 49 pixels: the distance-transform path."""
    R = M.radius(4)
    assert sum(dy * dy + dx * dx <= R * R for dy in range(-5, 6) for dx in range(-5, 6)) > 49
    fg, miss = random_map(16, (34, 40))
    got = M.mspa(fg, miss, edge_width=4, connectivity=conn, xp=np)
    check_partition(got, fg, miss)
    assert np.array_equal(got, plain_mspa(fg, miss, 4, conn))


@pytest.mark.gpu
@pytest.mark.skipif(cupy_or_none() is None, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("w", [1, 4])
def test_gpu_matches_cpu(w):
    cp = cupy_or_none()
    for seed in SEEDS:
        fg, miss = random_map(seed, (64, 70))
        for conn in (8, 4):
            for int_ext in (False, True):
                want = M.mspa(fg, miss, edge_width=w, connectivity=conn, int_ext=int_ext, xp=np)
                assert np.array_equal(M.mspa(fg, miss, edge_width=w, connectivity=conn, int_ext=int_ext, xp=cp), want)


def test_int_ext_codes_inside_core_holes():
    fg = hand_drawn()
    got = M.mspa(fg, int_ext=True, xp=np)
    assert np.array_equal(got, plain_mspa(fg, np.zeros_like(fg), 1, 8, int_ext=True))
    assert got[5, 8] == M.PERFORATION + 100 and got[7, 8] == M.INTERNAL       # perforation 105, core-opening
    assert got[14, 8] == M.BORDER_OPENING                                       # enclosed by the loop, not the core
    assert got[2, 8] == M.EDGE and got[4, 20] == M.BRIDGE                       # outside: external codes
    island = M.mspa(nested(), int_ext=True, xp=np)
    assert island[15, 15] == M.CORE + 100 and island[11, 15] == M.EDGE + 100 and island[6, 15] == 105
    assert island[9, 9] == M.INTERNAL
    rows = M.mspa_stats(got, 1e6)
    assert sum(r["pixels"] for r in rows) == fg.sum()


@pytest.mark.parametrize("conn", [8, 4])
@pytest.mark.parametrize("w", [1, 2])
def test_int_ext_random_maps_match_plain(conn, w):
    rng = np.random.default_rng(w + conn)
    fg = rng.random((30, 34)) > 0.05                                 # dense habitat: holes in the core
    fg[12:15, :] = rng.random((3, 34)) > 0.7                         # and a gap holding branches
    miss = rng.random(fg.shape) < 0.02
    got = M.mspa(fg, miss, edge_width=w, connectivity=conn, int_ext=True, xp=np)
    assert np.array_equal(got, plain_mspa(fg, miss, w, conn, int_ext=True))
    # IntExt only relabels: internal codes back to external, openings back to background
    external = np.where((got > 100) & (got != M.MISSING) & (got != M.BORDER_OPENING), got - 100, got)
    external[(got == M.INTERNAL) | (got == M.BORDER_OPENING)] = M.BACKGROUND
    assert np.array_equal(external, M.mspa(fg, miss, edge_width=w, connectivity=conn, xp=np))
    assert np.any(got == M.INTERNAL) and np.any(got == M.PERFORATION + 100)
