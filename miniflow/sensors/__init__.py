"""Sensors: tasks that wait for a condition (a file, a Python predicate)."""
