"""The learner's own grading: the facade behind ``grade WEEK`` and ``grade list`` (open a
course, plan and grade a week, the course overview) and the scores kept in ``.grade/``.

May import: grader.engine and grader.core.  Never authoring, classroom or the command line.
"""
