"""Network mode: the solver that runs (and says so), and what the current files hold,
checked against dense pseudo-inverse solves of the same graphs."""
import numpy as np
import pytest

from gpucircuit.errors import InputError, SolverError
from gpucircuit.graph import Network
from gpucircuit.io.config import parse_config
from gpucircuit.modes import network as netmode
from gpucircuit.pipeline import run_config
from gpucircuit.solver.system import SolveOptions


def random_edges(n, seed, p=0.35, offset=0):
    rng = np.random.default_rng(seed)
    edges = [(i + offset, i + 1 + offset, rng.random() * 5 + 0.1) for i in range(n - 1)]  # connected
    edges += [(i + offset, j + offset, rng.random() * 5 + 0.1)
              for i in range(n) for j in range(i + 2, n) if rng.random() < p]
    return edges


def laplacian(edges, ids):
    pos = {v: i for i, v in enumerate(ids)}
    L = np.zeros((len(ids), len(ids)))
    for a, b, r in edges:
        i, j = pos[a], pos[b]
        L[i, i] += 1 / r
        L[j, j] += 1 / r
        L[i, j] -= 1 / r
        L[j, i] -= 1 / r
    return L


def network(edges):
    e = np.asarray(edges, float)
    return Network.from_edges(e[:, 0], e[:, 1], 1 / e[:, 2])


@pytest.mark.parametrize("method,ran", [("direct", "direct"), ("mg", "amg"), ("amg", "amg"), ("auto", "direct")])
def test_solver_that_ran_and_resistances(method, ran):
    edges = random_edges(40, seed=3)
    ids = sorted({int(v) for a, b, _ in edges for v in (a, b)})
    P = np.linalg.pinv(laplacian(edges, ids))
    focal = [0, 7, 19, 33]
    out = netmode.pairwise(network(edges), focal, SolveOptions(method=method))
    assert [st.method for st in out.stats] == [ran]
    st = out.stats[0]
    assert st.solves == len(focal) - 1 and st.unknowns == len(ids) - 1
    assert st.max_residual <= 1e-4
    if ran == "amg":
        assert st.iterations > 0  # an iterative solve really happened
    for x, a in enumerate(focal):
        for y, b in enumerate(focal):
            expect = P[a, a] + P[b, b] - 2 * P[a, b]
            assert out.resistances[x, y] == pytest.approx(expect, rel=1e-5, abs=1e-9)


def test_auto_uses_multigrid_above_the_direct_limit():
    edges = random_edges(30, seed=4)
    opts = SolveOptions(method="auto", direct_limit=10)
    out = netmode.pairwise(network(edges), [0, 29], opts)
    assert out.stats[0].method == "amg"


def test_residual_check_bites():
    edges = random_edges(60, seed=5)
    with pytest.raises(SolverError, match="did not converge"):
        netmode.pairwise(network(edges), [0, 59], SolveOptions(method="amg", maxiter=1, rtol=1e-14))


def test_unknown_method_is_an_error():
    # refused where the options are made, before any network mode sees them
    with pytest.raises(InputError, match="solver method must be one of auto, direct, mg, amg, not 'cholesky'"):
        SolveOptions(method="cholesky")


def read_rows(path):
    return {tuple(int(v) for v in ln.split()[:-1]): float(ln.split()[-1])
            for ln in path.read_text().splitlines() if ln.strip()}


@pytest.fixture
def two_component_job(tmp_path):
    """Component A (ids 0..11) holds the focal nodes; component B (ids 100..105) holds none."""
    a = random_edges(12, seed=6)
    b = random_edges(6, seed=7, offset=100)
    graph = tmp_path / "graph.txt"
    graph.write_text("".join(f"{u} {v} {r!r}\n" for u, v, r in a + b))
    focal = [0, 5, 11]
    (tmp_path / "focal.txt").write_text("\n".join(map(str, focal)) + "\n")

    def run(solver=None, **extra):
        values = {"data_type": "network", "scenario": "pairwise", "habitat_file": str(graph),
                  "habitat_map_is_resistances": "True", "point_file": str(tmp_path / "focal.txt"),
                  "output_file": str(tmp_path / "out" / "net.out"), "write_cur_maps": "True",
                  "write_volt_maps": "True"}
        values.update(extra)
        return run_config(parse_config(values), method=solver)

    return a, b, focal, run, tmp_path / "out"


def test_cumulative_files_leave_out_components_without_focal_nodes(two_component_job):
    a, b, focal, run, out = two_component_job
    report = run()
    ids_a = sorted({int(v) for u, w, _ in a for v in (u, w)})
    P = np.linalg.pinv(laplacian(a, ids_a))
    # brute force: every pair's voltages from the pseudo-inverse, lower id at 0 V
    cum_branch = {}
    cum_node = np.zeros(len(ids_a))
    for i, p in enumerate(focal):
        for q in focal[i + 1:]:
            inj = np.zeros(len(ids_a))
            inj[q], inj[p] = 1.0, -1.0
            v = P @ inj
            flows = {}
            inflow, outflow = np.zeros(len(ids_a)), np.zeros(len(ids_a))
            for u, w, r in a:
                f = (v[u] - v[w]) / r
                flows[(min(u, w), max(u, w))] = abs(f)
                outflow[u] += max(f, 0)
                inflow[w] += max(f, 0)
                outflow[w] += max(-f, 0)
                inflow[u] += max(-f, 0)
            for k, f in flows.items():
                cum_branch[k] = cum_branch.get(k, 0.0) + f
            cum_node += np.maximum(inflow, outflow)
    branch = read_rows(out / "net_branch_currents_cum.txt")
    assert not any(u >= 100 for u, _ in branch), "component without focal nodes in the branch file"
    expected = {k: f for k, f in cum_branch.items() if f > 1e-6}
    assert set(branch) == set(expected)
    for k, f in expected.items():
        assert branch[k] == pytest.approx(f, rel=1e-6)
    node = read_rows(out / "net_node_currents_cum.txt")
    # Circuitscape lists every node in the node file (zero where nothing flows)
    assert {k[0] for k in node} == set(ids_a) | set(range(100, 106))
    for i in ids_a:
        assert node[(i,)] == pytest.approx(cum_node[i], rel=1e-6, abs=1e-12)
    assert all(node[(i,)] == 0 for i in range(100, 106))
    # per-pair files stay within the pair's component
    pair = read_rows(out / "net_branch_currents_0_5.txt")
    assert pair and not any(u >= 100 for u, _ in pair)
    assert all(st.method == "direct" for st in report.stats)


def test_job_reports_the_solver_that_ran(two_component_job):
    *_, run, _ = two_component_job
    assert [st.method for st in run("mg").stats] == ["amg"]
    assert [st.method for st in run("direct").stats] == ["direct"]
    rep = run(None, scenario="advanced", source_file=str(_write(two_component_job, "src.txt", "0 1.0\n")),
              ground_file=str(_write(two_component_job, "gnd.txt", "11 0\n")))
    assert [st.method for st in rep.stats] == ["direct"]


def _write(job, name, text):
    path = job[-1].parent / name
    path.write_text(text)
    return path
