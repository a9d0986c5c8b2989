"""The engine: everything that grades one submission against one week's suite.

Owns the cold and warm grading children (runner), the child's entry point, the pytest plugin,
the event protocol between them, the transport of values, and the sandbox with its zygote.
May import: grader.core and grader.testing.  Never authoring, classroom, learner or the command
line, and never rich: the engine returns values and reports progress through a Listener.
"""
