"""Values shared by every layer: the error tree, the course (course.toml), results and their JSON
form, the late policy, the held-back manifest of a release, the version.

Owns plain values and their loading from files; runs nothing and renders nothing.
May import: the standard library only (no other grader package, no torch, no rich).
"""
