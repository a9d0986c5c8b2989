"""``grade WEEK --plot``: a picture of the mistake.  For each failed comparison of a function of
one variable (a test that called ``assert_close(got, want, at=x)``), a PNG in ``.grade/plots/``
of the learner's curve against the expected one at the test's own inputs, the worst point marked.

The curves come from the trusted grading child in the test's result event (``results.Curve``,
bounded and checked on arrival); matplotlib (the ``plot`` extra) draws them off screen here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Final

from ..core.errors import MissingExtraError
from ..core.results import Curve, WeekResult

PLOT_EXTRA: Final = 'pip install -e ".[plot]"'
PLOTS_DIR: Final = Path(".grade") / "plots"


def require_matplotlib() -> None:
    """Fail at once, before grading, when the plot extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtraError("matplotlib", for_what="grade --plot", install=PLOT_EXTRA, tools="it") from None


def write_plots(result: WeekResult, folder: Path) -> list[Path]:
    """One PNG per failed test that carries a curve, in ``folder`` (created); returns the paths."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    from matplotlib import pyplot

    written = []
    for exercise in result.exercises:
        for outcome in exercise.outcomes:
            if outcome.curve is None or outcome.passed:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{result.week_id}-{_file_name(outcome.info.name)}.png"
            figure = _figure(pyplot, outcome.curve, title=f"{exercise.name}: {outcome.info.name}")
            try:
                figure.savefig(path, dpi=100)
            finally:
                pyplot.close(figure)
            written.append(path)
    return written


def _figure(pyplot: Any, curve: Curve, *, title: str) -> Any:
    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    axes.plot(curve.x, curve.want, color="tab:green", linewidth=2.5, label="expected")
    axes.plot(curve.x, curve.got, color="tab:red", linestyle="--", marker=".", label="yours")
    x, got, want = curve.x[curve.worst], curve.got[curve.worst], curve.want[curve.worst]
    axes.scatter([x], [got if math.isfinite(got) else want], s=120, facecolors="none", edgecolors="black", zorder=3)
    axes.annotate(
        f"worst: x = {x:.4g}\nyours {got:.4g}, expected {want:.4g}",
        (x, got if math.isfinite(got) else want),
        textcoords="offset points",
        xytext=(10, 10),
    )
    axes.set_title(title[:90], fontsize=10)
    axes.set_xlabel(f"input ({curve.what})"[:80])
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _file_name(test: str) -> str:
    """A test name as a safe file name: ``test_x[nats]`` -> ``test_x-nats``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test).strip("-.")[:120] or "test"
