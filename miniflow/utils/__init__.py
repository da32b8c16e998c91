"""Airflow-shaped import paths for helpers (``miniflow.utils.trigger_rule``)."""
