"""Authoring a course: stubs from solutions (build), the course check, mutants, new weeks and
exercises (scaffold), and student releases.

May import: grader.engine and grader.core.  Never classroom, learner or the command line.
"""
