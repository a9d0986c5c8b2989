"""Grading a class: reading submissions (intake), the batch and its warm workers, the SQLite
gradebook, its exports (CSV, JSON, nbgrader) and the Gradescope autograder.

May import: grader.engine and grader.core.  Never authoring, learner or the command line.
"""
