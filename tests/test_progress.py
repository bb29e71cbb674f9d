"""The progress protocol: what the modes report, the adapter, and the plain and rich displays."""
import io

import pytest

import gpucircuit as gc
from gpucircuit._cli.display import PlainDisplay, RichDisplay
from gpucircuit.progress import Progress, current, reporting, stage_callback
from reference import pick_points, random_landscape


class Recorder(Progress):
    def __init__(self):
        self.calls = []
        self.closed = False

    def stage(self, name, total=None):
        self.calls.append(("stage", name, total))

    def advance(self, n=1):
        self.calls.append(("advance", n))

    def close(self):
        self.closed = True

    def stages(self):
        """{stage: (total, steps advanced)} (a stage met twice keeps its last run)."""
        out, name = {}, None
        for c in self.calls:
            if c[0] == "stage":
                name = c[1]
                out[name] = (c[2], 0)
            else:
                out[name] = (out[name][0], out[name][1] + c[1])
        return out


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_silent_by_default_and_restored_after_the_block(capsys):
    assert type(current()) is Progress
    rec = Recorder()
    with pytest.raises(RuntimeError):
        with reporting(rec):
            assert current() is rec
            with reporting(None):
                assert type(current()) is Progress
            assert current() is rec
            raise RuntimeError
    assert type(current()) is Progress and rec.closed  # closed even when the job fails
    res = random_landscape((12, 14), seed=1, split=False)
    gc.pairwise(res, pick_points(res, 3, seed=2))
    assert capsys.readouterr() == ("", "")  # the library never prints


@pytest.mark.parametrize("fn", [gc.pairwise, gc.one_to_all, gc.all_to_one])
def test_modes_report_stages_whose_counts_add_up(fn):
    res = random_landscape((16, 18), seed=3, split=True)
    pts = pick_points(res, 5, seed=4)
    rec = Recorder()
    with reporting(rec):
        out = fn(res, pts)
    stages = rec.stages()
    assert list(stages)[:2] == ["setup", "solve"]
    total, done = stages["solve"]
    assert total == done == sum(st.solves for st in out.stats) >= 1
    k = len(pts)
    loop = k * (k - 1) // 2 if fn is gc.pairwise else k
    assert stages["maps"] == (loop, loop)


def test_pairwise_with_focal_regions_counts_pairs():
    res = random_landscape((14, 16), seed=8, split=False, nodata=0.0)
    pts = {1: [(1, 1), (1, 2)], 2: [(12, 14)], 3: [(7, 3), (8, 3)]}  # regions: one system per pair
    rec = Recorder()
    with reporting(rec):
        out = gc.pairwise(res, pts)
    assert rec.stages()["solve"] == (3, 3) and len(out.stats) == 3


def test_stage_callback_turns_running_counts_into_steps():
    rec = Recorder()
    report = stage_callback(rec)
    for args in [("cwd", 1, 3), ("cwd", 3, 3), ("links", 2, 5), ("links", 2, 5), ("links", 5, 5),
                 ("write", 0, None)]:
        report(*args)
    assert rec.calls == [("stage", "cwd", 3), ("advance", 1), ("advance", 2), ("stage", "links", 5),
                         ("advance", 2), ("advance", 3), ("stage", "write", None)]


def test_plain_lines_per_stage_per_tenth_and_at_the_end():
    clock, out = Clock(), io.StringIO()
    d = PlainDisplay(out, clock, hold_s=0)
    clock.t = 0.4
    d.stage("load")
    clock.t = 0.5
    d.stage("solve", 40)
    for i in range(1, 41):
        clock.t = 0.5 + 0.25 * i  # 10 s in all: one line per tenth would be due every 1 s
        d.advance()
    d.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[  0.4 s] load" and lines[1] == "[  0.5 s] solve 0/40"
    assert lines[-1] == "[ 10.5 s] solve 40/40"
    middle = lines[2:-1]
    assert 5 <= len(middle) <= 9  # each tenth at most once, never more often than every second
    first = middle[0]
    done = int(first.split("solve ")[1].split("/")[0])
    elapsed = 0.25 * done
    eta = elapsed / done * (40 - done)
    assert first == f"[{0.5 + elapsed:5.1f} s] solve {done}/40 (ETA {eta:.0f} s)"


def test_plain_short_loop_prints_start_and_end_only():
    clock, out = Clock(), io.StringIO()
    d = PlainDisplay(out, clock, hold_s=0)
    d.stage("maps", 3)
    for _ in range(3):
        clock.t += 0.01
        d.advance()
    d.stage("write")
    assert out.getvalue().splitlines() == ["[  0.0 s] maps 0/3", "[  0.0 s] maps 3/3", "[  0.0 s] write"]


def test_rich_display_shows_every_stage_with_its_count():
    from rich.console import Console

    buf = io.StringIO()
    d = RichDisplay(Console(file=buf, force_terminal=True, width=100))
    d.stage("load")
    d.stage("solve", 4)
    d.advance(4)
    d.close()
    text = buf.getvalue()
    assert "load" in text and "solve" in text and "4/4" in text


def test_plain_lines_wait_for_the_first_second():
    clock, out = Clock(), io.StringIO()
    d = PlainDisplay(out, clock, hold_s=1.0)
    d.stage("load")
    clock.t = 0.5
    d.stage("graph")
    assert out.getvalue() == ""  # a job that fails here shows its error line alone
    clock.t = 1.2
    d.stage("setup")
    assert out.getvalue().splitlines() == ["[  0.0 s] load", "[  0.5 s] graph", "[  1.2 s] setup"]
    quick = io.StringIO()
    d = PlainDisplay(quick, clock, hold_s=1.0)
    d.stage("load")
    d.close()
    assert quick.getvalue() == ""
