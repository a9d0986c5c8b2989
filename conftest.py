"""Plain `pytest` at the root grades every week's suite against solutions/ with the course plugin."""

pytest_plugins = ("grader.plugin",)
