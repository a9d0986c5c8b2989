"""Plain `pytest` at the root grades every week's suite against solutions/ with the course plugin,
and runs the framework's own tests (which use pytester)."""

pytest_plugins = ("grader.engine.plugin", "pytester")
