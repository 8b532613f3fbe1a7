"""Figures a reader can trust: no empty panel, tick labels on every log axis."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg

from make_fixture import FIXTURES
from skinbench.report.plots import cost_figure
from skinbench.report.runs import load_results
from skinbench.report.summary import summarise

SHARDS = [FIXTURES / "shard-a", FIXTURES / "shard-b"]


def _labels(figure) -> list[list[str]]:
    """Each axis's x tick labels that are shown: non-empty, inside the axis's limits."""
    FigureCanvasAgg(figure).draw()
    shown = []
    for axis in figure.axes:
        low, high = axis.get_xlim()
        ticks = (*axis.xaxis.get_major_ticks(), *axis.xaxis.get_minor_ticks())
        shown.append([t.label1.get_text() for t in ticks if t.label1.get_text() and low <= t.get_loc() <= high])
    return shown


def test_cost_figure_has_a_panel_per_cost_with_data_each_with_tick_labels() -> None:
    summary = summarise(load_results(SHARDS), 0)
    figure = cost_figure(summary)
    assert len(figure.axes) == 2 and all(axis.has_data() for axis in figure.axes)
    assert all(_labels(figure))  # every panel's log axis is labelled, however narrow its span


def test_a_cost_no_cell_has_draws_no_panel(monkeypatch) -> None:
    from skinbench.report import plots

    monkeypatch.setattr(plots, "_COSTS", (plots._COSTS[0], ("seconds per epoch", lambda summary, key: None)))
    figure = cost_figure(summarise(load_results(SHARDS), 0))
    assert len(figure.axes) == 1 and figure.axes[0].has_data()
    assert "parameters" in figure.axes[0].get_xlabel()


def test_a_log_axis_within_one_decade_is_labelled() -> None:
    from matplotlib.figure import Figure

    from skinbench.report.plots import _label_log_axis

    figure = Figure()
    axis = figure.subplots()
    axis.plot([3.5, 5.0], [0.4, 0.6], "o")
    axis.set_xscale("log")
    axis.set_xlim(3, 6)  # no power of ten inside: no major tick
    _label_log_axis(axis)
    assert _labels(figure)[0]
