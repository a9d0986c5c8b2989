"""The sandbox: where learner code runs, apart from the process that decides the score.

* ``student``: the student side, which imports the learner's modules and turns every failure
  into a plain-data error record; ``serve`` is a sandbox process's life.
* ``backend``: the trusted side, the proxy a test holds (``student.entropy(p)``) and the
  backends behind it, in-process or one sandbox process per exercise.
* ``channel``: length-prefixed frames between the two processes.
* ``confinement``: rlimits, dropping root, the bubblewrap command, the grading environment.
* ``zygote``: the process that imports torch once and forks sandboxes, and its client.

Nothing is imported here, so that ``python -m grader.engine.sandbox.zygote`` runs its module once.
"""
