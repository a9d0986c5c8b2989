"""Issue #21: `grade export html` opened in a real headless browser (Debian's chromium driven by
playwright): the chart is drawn, the learner table sorts on a click, nothing is fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.classroom.gradebook import Gradebook
from grader.cli import run as grade_cli
from grader.core.course import Course

from .test_class_report import a_class, course  # noqa: F401 - the fixture

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra: pip install -e '.[dev]'")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
def report_page(course: Course, tmp_path: Path) -> Path:  # noqa: F811 - the fixture imported above
    book = tmp_path / "grades.db"
    with Gradebook.open(book, create=True) as gradebook:
        for entry in a_class():
            gradebook.record(entry)
    out = tmp_path / "report.html"
    code = grade_cli(["export", "html", "week1", "--course", str(course.root), "--gradebook", str(book), "--out", str(out)])
    assert code == 0 and out.is_file()
    return out


def test_the_class_report_draws_its_chart_and_sorts_its_table_in_a_real_browser(report_page: Path) -> None:
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(report_page.as_uri())
            bars = page.locator("#histogram rect")
            assert bars.count() == 10
            heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(10)]
            assert max(heights) > 0 and page.locator("#histogram").bounding_box()["height"] > 100  # type: ignore[index]

            def learners() -> list[str]:
                return page.locator("#learners tbody tr td:first-child").all_inner_texts()

            assert learners() == ["ada", "ben", "cy", "dot", "eve", "fay"]
            page.click("#learners th:has-text('final')")
            assert learners() == ["fay", "cy", "dot", "eve", "ben", "ada"]  # rejected first, ties keep their order
            page.click("#learners th:has-text('final')")
            assert learners() == ["ada", "ben", "cy", "dot", "eve", "fay"]
            page.click("#learners th:has-text('learner')")
            assert learners() == ["ada", "ben", "cy", "dot", "eve", "fay"]
            assert errors == []
        finally:
            browser.close()
    assert requests == [report_page.as_uri()]  # self-contained: the page fetched nothing else
