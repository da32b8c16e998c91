"""The common SQL operators, over any connection with a SQL hook (SQLite, PostgreSQL):
run statements, branch on a query's answer, and check data quality (a failed check
fails the task and names it; with ``retry_on_failure=False`` it fails without retries)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException, AirflowFailException
from miniflow.hooks.dbapi import DbApiHook, fetch_all_handler
from miniflow.operators.branch import BaseBranchOperator

__all__ = [
    "BaseSQLOperator", "SQLExecuteQueryOperator", "PostgresOperator", "MySqlOperator", "SqliteOperator", "SQLCheckOperator",
    "SQLValueCheckOperator", "SQLIntervalCheckOperator", "SQLThresholdCheckOperator", "SQLColumnCheckOperator",
    "SQLTableCheckOperator", "BranchSQLOperator", "GenericTransfer", "sql_hook",
]


def sql_hook(conn_id: str, params: dict[str, Any] | None = None) -> DbApiHook:
    """The SQL hook of the connection `conn_id`; an error if it is not a SQL database."""
    hook = DbApiHook.get_hook(conn_id, params)
    if not isinstance(hook, DbApiHook):
        raise AirflowException(f"connection {conn_id!r} is not a SQL database")
    return hook


class BaseSQLOperator(BaseOperator):
    """Finds the hook of `conn_id`'s connection type."""

    def __init__(self, *, conn_id: str | None = None, database: str | None = None,
                 hook_params: dict[str, Any] | None = None, retry_on_failure: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.database = database
        self.hook_params = dict(hook_params or {})
        self.retry_on_failure = retry_on_failure

    def get_db_hook(self) -> DbApiHook:
        if not self.conn_id:
            raise AirflowException(f"task {self.task_id!r} names no conn_id")
        params = dict(self.hook_params)
        if self.database:
            params.setdefault("schema" if "postgres" not in type(self).__name__.lower() else "database", self.database)
        return sql_hook(self.conn_id, params)

    def _fail(self, message: str) -> NoReturn:
        """Fail a check: the task retries if it has retries left, unless
        `retry_on_failure` is off."""
        raise (AirflowException if self.retry_on_failure else AirflowFailException)(message)


class SQLExecuteQueryOperator(BaseSQLOperator):
    """Run `sql` (a statement, several separated by ``;`` with `split_statements`, a
    list, or a ``.sql`` file, all templated) with `parameters`; what `handler` makes of
    the cursor -- every row by default -- is the XCom (the last statement's, unless
    ``return_last=False``)."""

    template_fields: tuple[str, ...] = ("conn_id", "sql", "parameters", "hook_params")
    template_ext: tuple[str, ...] = (".sql", ".json")
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    ui_color = "#cdaaed"

    def __init__(self, *, sql: str | list[str], autocommit: bool = False, parameters: Any = None,
                 handler: Callable[[Any], Any] = fetch_all_handler, split_statements: bool | None = None,
                 return_last: bool = True, show_return_value_in_logs: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.autocommit = autocommit
        self.parameters = parameters
        self.handler = handler
        self.split_statements = split_statements
        self.return_last = return_last
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        self.log.info("Executing: %s", self.sql)
        result = self.get_db_hook().run(
            self.sql, autocommit=self.autocommit, parameters=self.parameters,
            handler=self.handler if self.do_xcom_push else None,
            split_statements=bool(self.split_statements), return_last=self.return_last)
        if self.show_return_value_in_logs:
            self.log.info("Operator output is: %s", result)
        return result


class PostgresOperator(SQLExecuteQueryOperator):
    """Airflow's deprecated name: SQLExecuteQueryOperator on ``postgres_conn_id``."""

    def __init__(self, *, postgres_conn_id: str = "postgres_default", database: str | None = None,
                 runtime_parameters: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id=postgres_conn_id, database=database, **kwargs)


class MySqlOperator(SQLExecuteQueryOperator):
    """Airflow's deprecated name: SQLExecuteQueryOperator on ``mysql_conn_id``."""

    def __init__(self, *, mysql_conn_id: str = "mysql_default", database: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=mysql_conn_id, database=database, **kwargs)


class SqliteOperator(SQLExecuteQueryOperator):
    """Airflow's deprecated name: SQLExecuteQueryOperator on ``sqlite_conn_id``."""

    def __init__(self, *, sqlite_conn_id: str = "sqlite_default", **kwargs: Any) -> None:
        super().__init__(conn_id=sqlite_conn_id, **kwargs)


class SQLCheckOperator(BaseSQLOperator):
    """Fails unless every value of the first row `sql` returns is truthy."""

    template_fields: tuple[str, ...] = ("sql",)
    template_ext: tuple[str, ...] = (".hql", ".sql")
    ui_color = "#fff7e6"

    def __init__(self, *, sql: str, conn_id: str | None = None, parameters: Any = None, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.sql = sql
        self.parameters = parameters

    def execute(self, context: dict[str, Any]) -> None:
        records = self.get_db_hook().get_first(self.sql, self.parameters)
        self.log.info("Record: %s", records)
        if not records:
            self._fail(f"The following query returned zero rows: {self.sql}")
        if not all(records):
            self._fail(f"Test failed.\nQuery:\n{self.sql}\nResults:\n{records!s}")
        self.log.info("Success.")


class SQLValueCheckOperator(BaseSQLOperator):
    """Fails unless the first row equals `pass_value` (every cell; numbers within
    `tolerance`, a fraction)."""

    template_fields: tuple[str, ...] = ("sql", "pass_value")
    template_ext: tuple[str, ...] = (".hql", ".sql")
    ui_color = "#fff7e6"

    def __init__(self, *, sql: str, pass_value: Any, tolerance: Any = None, conn_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.sql = sql
        self.pass_value = str(pass_value)
        self.tolerance = float(tolerance) if tolerance is not None else None

    def execute(self, context: dict[str, Any]) -> None:
        records = self.get_db_hook().get_first(self.sql)
        if not records:
            self._fail(f"The following query returned zero rows: {self.sql}")
        try:
            expected: Any = float(self.pass_value)
            numeric = True
        except ValueError:
            expected, numeric = self.pass_value, False
        if numeric:
            values = [float(r) for r in records]
            tolerance = self.tolerance or 0.0
            ok = all(expected * (1 - tolerance) <= v <= expected * (1 + tolerance) for v in values)
        else:
            ok = all(str(r) == expected for r in records)
        if not ok:
            tol = f"{self.tolerance * 100:.1f}%" if self.tolerance is not None else None
            self._fail(f"Test failed.\nPass value:{self.pass_value}\nTolerance:{tol}\n"
                                   f"Query:\n{self.sql}\nResults:\n{records!s}")


_RATIO_FORMULAS: dict[str, Callable[[float, float], float]] = {
    "max_over_min": lambda cur, ref: max(cur, ref) / min(cur, ref),
    "relative_diff": lambda cur, ref: abs(cur - ref) / ref,
}


class SQLIntervalCheckOperator(BaseSQLOperator):
    """Fails unless each metric (a SQL expression over `table`) on the run's ``ds`` is
    within its threshold of the same metric `days_back` days earlier.

    The ratio is ``max_over_min`` (max(cur, ref) / min(cur, ref)) or ``relative_diff``
    (abs(cur - ref) / ref) and must stay below the metric's threshold; a metric that is
    zero on either day passes when `ignore_zero` is on, as in Airflow."""

    template_fields: tuple[str, ...] = ("sql1", "sql2")
    template_ext: tuple[str, ...] = (".hql", ".sql")
    ui_color = "#fff7e6"

    def __init__(self, *, table: str, metrics_thresholds: dict[str, float], date_filter_column: str = "ds",
                 days_back: int = -7, ratio_formula: str = "max_over_min", ignore_zero: bool = True,
                 conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        if ratio_formula not in _RATIO_FORMULAS:
            raise AirflowException(f"task {self.task_id!r}: unknown ratio_formula {ratio_formula!r}; "
                                   f"use {', '.join(_RATIO_FORMULAS)}")
        self.table = table
        self.metrics_thresholds = metrics_thresholds
        self.metrics_sorted = sorted(metrics_thresholds)
        self.ratio_formula = ratio_formula
        self.ignore_zero = ignore_zero
        self.days_back = -abs(days_back)
        select = f"SELECT {', '.join(self.metrics_sorted)} FROM {table} WHERE {date_filter_column}="
        self.sql1 = select + "'{{ ds }}'"
        self.sql2 = select + f"'{{{{ macros.ds_add(ds, {self.days_back}) }}}}'"

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.get_db_hook()
        reference_row, current_row = hook.get_first(self.sql2), hook.get_first(self.sql1)
        if not reference_row:
            self._fail(f"The following query returned zero rows: {self.sql2}")
        if not current_row:
            self._fail(f"The following query returned zero rows: {self.sql1}")
        ratio = _RATIO_FORMULAS[self.ratio_formula]
        failed = []
        for metric, cur, ref in zip(self.metrics_sorted, current_row, reference_row):
            threshold = self.metrics_thresholds[metric]
            if cur == 0 or ref == 0:
                value, ok = None, self.ignore_zero
            else:
                value = ratio(float(cur), float(ref))
                ok = value < threshold
            self.log.info("Metric %s: current %s, %s days back %s, ratio %s, threshold %s",
                          metric, cur, -self.days_back, ref, value, threshold)
            if not ok:
                failed.append(metric)
        if failed:
            self._fail(f"The following tests have failed:\n {', '.join(sorted(failed))}")
        self.log.info("All tests have passed")


class SQLThresholdCheckOperator(BaseSQLOperator):
    """Fails unless the first value `sql` returns lies in [min_threshold, max_threshold];
    a threshold may itself be a SQL query."""

    template_fields: tuple[str, ...] = ("sql", "min_threshold", "max_threshold")
    template_ext: tuple[str, ...] = (".hql", ".sql")

    def __init__(self, *, sql: str, min_threshold: Any, max_threshold: Any, conn_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.sql = sql
        self.min_threshold = min_threshold
        self.max_threshold = max_threshold

    def _value(self, hook: DbApiHook, threshold: Any) -> float:
        if isinstance(threshold, numbers.Number):
            return float(threshold)  # type: ignore[arg-type]
        first = hook.get_first(str(threshold))
        return float(first[0]) if first else float("nan")

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.get_db_hook()
        first = hook.get_first(self.sql)
        result = float(first[0]) if first and first[0] is not None else float("nan")
        low, high = self._value(hook, self.min_threshold), self._value(hook, self.max_threshold)
        if not low <= result <= high:
            self._fail(f"Threshold Check: \"{self.task_id}\" failed.\nDAG: {context['dag'].dag_id}\n"
                                   f"Task_id: {self.task_id}\nCheck description: {self.sql}\n"
                                   f"SQL: {self.sql}\nResult: {result} is not within {low} and {high}")
        self.log.info("Test %s Successful.", self.task_id)


_COLUMN_CHECKS = {
    "null_check": "SUM(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)",
    "distinct_check": "COUNT(DISTINCT({column}))",
    "unique_check": "COUNT({column}) - COUNT(DISTINCT({column}))",
    "min": "MIN({column})",
    "max": "MAX({column})",
}


def _passes(condition: Mapping[str, Any], result: Any) -> bool:
    """A check's comparison (equal_to, greater_than, geq_to, less_than, leq_to), with
    its optional tolerance, as Airflow applies it."""
    tolerance = float(condition.get("tolerance") or 0)
    ok = True
    if "equal_to" in condition:
        v = condition["equal_to"]
        ok &= v * (1 - tolerance) <= result <= v * (1 + tolerance) if tolerance else result == v
    if "greater_than" in condition:
        ok &= result > condition["greater_than"] * (1 - tolerance)
    if "geq_to" in condition:
        ok &= result >= condition["geq_to"] * (1 - tolerance)
    if "less_than" in condition:
        ok &= result < condition["less_than"] * (1 + tolerance)
    if "leq_to" in condition:
        ok &= result <= condition["leq_to"] * (1 + tolerance)
    return bool(ok)


class SQLColumnCheckOperator(BaseSQLOperator):
    """Checks per column -- ``null_check``, ``distinct_check``, ``unique_check``,
    ``min``, ``max`` -- each compared with ``equal_to``, ``greater_than``, ``geq_to``,
    ``less_than`` or ``leq_to`` (and an optional ``tolerance``)::

        column_mapping={"revenue": {"null_check": {"equal_to": 0}, "min": {"geq_to": 0}}}

    Every failed check is named in the task's error."""

    template_fields: tuple[str, ...] = ("partition_clause", "table", "sql")
    sql = ""

    def __init__(self, *, table: str, column_mapping: dict[str, dict[str, dict[str, Any]]],
                 partition_clause: str | None = None, conn_id: str | None = None, accept_none: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        for column, checks in column_mapping.items():
            unknown = sorted(set(checks) - set(_COLUMN_CHECKS))
            if unknown:
                raise AirflowException(f"task {self.task_id!r}: unknown check(s) {unknown} for column {column!r}; "
                                       f"use {', '.join(_COLUMN_CHECKS)}")
        self.table = table
        self.column_mapping = column_mapping
        self.partition_clause = partition_clause
        self.accept_none = accept_none

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.get_db_hook()
        failed = []
        results: dict[str, dict[str, Any]] = {}
        for column, checks in self.column_mapping.items():
            for name, condition in checks.items():
                where = condition.get("partition_clause") or self.partition_clause
                sql = (f"SELECT {_COLUMN_CHECKS[name].format(column=column)} FROM {self.table}"
                       + (f" WHERE {where}" if where else ""))
                first = hook.get_first(sql)
                result = first[0] if first else None
                if result is None and self.accept_none:
                    result = 0
                results.setdefault(column, {})[name] = result
                if result is None or not _passes(condition, result):
                    failed.append(f"Column: {column}\n\tCheck: {name},\n\tCheck Values: {condition}")
        self.log.info("Results: %s", results)
        if failed:
            self._fail(f"Test failed.\nResults:\n{results}\nThe following tests have failed:\n"
                                   + "\n".join(failed))
        self.log.info("All tests have passed")


class SQLTableCheckOperator(BaseSQLOperator):
    """Checks on a whole table: each a boolean SQL expression over its rows that must
    hold for all of them, such as ``{"row_count_check": {"check_statement": "COUNT(*) >= 1"}}``."""

    template_fields: tuple[str, ...] = ("partition_clause", "table", "sql")
    sql = ""

    def __init__(self, *, table: str, checks: dict[str, dict[str, Any]], partition_clause: str | None = None,
                 conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.table = table
        self.checks = checks
        self.partition_clause = partition_clause

    def execute(self, context: dict[str, Any]) -> None:
        hook = self.get_db_hook()
        failed = []
        for name, check in self.checks.items():
            where = check.get("partition_clause") or self.partition_clause
            # An aggregate (COUNT(*) >= 1) gives one row for the table, a row condition
            # (price >= 0) one per row: the check holds if its smallest result is 1.
            sql = (f"SELECT MIN(check_result) FROM (SELECT CASE WHEN {check['check_statement']} THEN 1 ELSE 0 END "
                   f"AS check_result FROM {self.table}{f' WHERE {where}' if where else ''}) AS sq")
            first = hook.get_first(sql)
            if not first or first[0] != 1:
                failed.append(f"Table: {self.table}\n\tCheck: {name},\n\tCheck Values: {check}")
        if failed:
            self._fail("Test failed.\nThe following tests have failed:\n" + "\n".join(failed))
        self.log.info("All tests have passed")



def _as_bool(value: Any) -> bool:
    """A query's answer as a branch condition: a boolean, an integer, or a true- or
    false-like string (yes/no, on/off, t/f, 1/0...), as Airflow reads it."""
    if isinstance(value, bool | int):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("y", "yes", "t", "true", "on", "1"):
            return True
        if word in ("n", "no", "f", "false", "off", "0"):
            return False
    raise AirflowException(f"Unexpected query return result {value!r} type {type(value).__name__!r}")


class BranchSQLOperator(BaseSQLOperator, BaseBranchOperator):
    """Follows `follow_task_ids_if_true` or `follow_task_ids_if_false` by the first value
    `sql` returns; the other direct downstream tasks are skipped."""

    template_fields: tuple[str, ...] = ("sql",)
    template_ext: tuple[str, ...] = (".sql",)
    ui_color = "#a22034"
    ui_fgcolor = "#F7F7F7"

    def __init__(self, *, sql: str, follow_task_ids_if_true: str | list[str],
                 follow_task_ids_if_false: str | list[str], conn_id: str = "default_conn_id",
                 parameters: Any = None, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.sql = sql
        self.parameters = parameters
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str]:
        self.log.info("Executing: %s (with parameters %s) with connection: %s", self.sql, self.parameters, self.conn_id)
        record = self.get_db_hook().get_first(self.sql, self.parameters)
        if not record:
            raise AirflowException("No rows returned from sql query. Operator expected True or False return value.")
        answer = record[0] if isinstance(record, list | tuple) else record
        self.log.info("Query returns %s, type %r", answer, type(answer).__name__)
        return self.follow_task_ids_if_true if _as_bool(answer) else self.follow_task_ids_if_false


class GenericTransfer(BaseOperator):
    """Copy what `sql` returns on one database into `destination_table` on another (both
    SQL connections), after running `preoperator` there; the rows pass through memory,
    so this is for small tables, as in Airflow."""

    template_fields: tuple[str, ...] = ("sql", "destination_table", "preoperator")
    template_ext: tuple[str, ...] = (".sql", ".hql")
    template_fields_renderers = {"preoperator": "sql"}
    ui_color = "#b0f07c"

    def __init__(self, *, sql: str, destination_table: str, source_conn_id: str, destination_conn_id: str,
                 preoperator: str | list[str] | None = None, insert_args: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.destination_table = destination_table
        self.source_conn_id = source_conn_id
        self.destination_conn_id = destination_conn_id
        self.preoperator = preoperator
        self.insert_args = dict(insert_args or {})

    def execute(self, context: dict[str, Any]) -> None:
        source, destination = sql_hook(self.source_conn_id), sql_hook(self.destination_conn_id)
        self.log.info("Extracting data from %s: %s", self.source_conn_id, self.sql)
        rows = source.get_records(self.sql)
        if self.preoperator:
            self.log.info("Running preoperator: %s", self.preoperator)
            destination.run(self.preoperator)
        self.log.info("Inserting %s rows into %s on %s", len(rows), self.destination_table, self.destination_conn_id)
        destination.insert_rows(table=self.destination_table, rows=rows, **self.insert_args)
