"""`TriggerRule` at the path Airflow users know; it lives in `miniflow.trigger_rules`."""

from miniflow.trigger_rules import TriggerRule

__all__ = ["TriggerRule"]
