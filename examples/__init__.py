"""miniflow's example DAGs (``core.load_examples``; ``miniflow standalone`` loads them).

Installed as ``miniflow.examples``; the DAG loader reads the files of this folder.
"""
