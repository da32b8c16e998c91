"""Every setting miniflow has, with its default and a sentence on what it does.

Values come from here, then ``$MINIFLOW_HOME/miniflow.toml``, then environment
variables ``MINIFLOW__SECTION__KEY`` (see `miniflow.config`). ``{home}`` in a default
stands for ``$MINIFLOW_HOME``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Setting", "DEFAULTS"]


class Setting(NamedTuple):
    default: str | int | float | bool
    help: str


DEFAULTS: dict[str, dict[str, Setting]] = {
    "core": {
        "dags_folder": Setting("{home}/dags", "Folder scanned for DAG files."),
        "plugins_folder": Setting(
            "{home}/plugins", "Put on sys.path where DAG files load, for the modules they import (custom timetables)."
        ),
        "executor": Setting("local", "How tasks run: sequential, local or celery."),
        "parallelism": Setting(32, "Most task instances running at once, over all DAGs."),
        "max_active_tasks_per_dag": Setting(16, "Default of a DAG's max_active_tasks."),
        "max_active_runs_per_dag": Setting(16, "Default of a DAG's max_active_runs."),
        "dags_are_paused_at_creation": Setting(
            True, "New DAGs start paused unless they set is_paused_upon_creation."
        ),
        "dagbag_import_timeout": Setting(
            30.0, "Seconds a DAG file may take to import before it counts as broken."
        ),
        "isolate_dag_parsing": Setting(
            True, "Import DAG files in child processes, so a bad file cannot harm the process loading it "
                  "(the scheduler then imports none itself)."
        ),
        "dag_parse_memory_mb": Setting(
            2048, "Megabytes a DAG file may allocate while it is imported in its child (0: no limit)."
        ),
        "load_examples": Setting(False, "Also load the example DAGs shipped with miniflow."),
        "killed_task_cleanup_time": Setting(
            60.0, "Seconds the processes a try leaves behind get after SIGTERM before SIGKILL."
        ),
        "default_pool_slots": Setting(128, "Slots of default_pool, the pool tasks use unless told."),
        "max_task_retry_delay": Setting(
            86400, "Cap, in seconds, on a retry delay grown by exponential backoff."
        ),
        "fernet_key": Setting(
            "", "Key(s) encrypting connection secrets, newest first and comma-separated; empty: a key "
                "generated into {home}/fernet.key on first use."
        ),
        "virtualenv_cache_folder": Setting(
            "{home}/venvs", "Where PythonVirtualenvOperator keeps its environments, one per requirements hash."
        ),
        "max_map_length": Setting(
            1024, "Most items a mapped task may map over; more fails the task that returned them."
        ),
    },
    "database": {
        "sql_alchemy_conn": Setting(
            "sqlite:///{home}/miniflow.db",
            "SQLAlchemy URL of the metadata DB (MINIFLOW_DATABASE_URL also sets it).",
        ),
        "sqlite_busy_timeout": Setting(30.0, "Seconds a SQLite writer waits for a lock."),
        "load_default_connections": Setting(
            True, "db migrate adds the default connections (sqlite_default, sales_db, fs_default) that do not exist yet."
        ),
    },
    "scheduler": {
        "loop_interval": Setting(
            1.0, "Longest sleep of the scheduler loop when nothing wakes it earlier."
        ),
        "dag_dir_list_interval": Setting(
            10.0, "Seconds between scans of the DAG folder for new or changed files."
        ),
        "first_parse_wait": Setting(
            5.0, "Seconds a starting scheduler waits for the first parse of the DAG folder before it schedules "
                 "the DAGs stored by the last parse until their files are parsed again."
        ),
        "zombie_threshold": Setting(
            60.0, "Seconds without a heartbeat after which a running task is a zombie."
        ),
        "heartbeat_interval": Setting(5.0, "Seconds between heartbeats of a running task."),
        "check_slas": Setting(True, "Record and report tasks that missed their sla (Airflow 2's SLA misses)."),
        "sla_check_interval": Setting(10.0, "Seconds between SLA checks of the unpaused DAGs with SLAs."),
        "shutdown_grace_period": Setting(
            30.0, "Seconds running tasks get to finish after SIGTERM before they are killed."
        ),
    },
    "logging": {
        "base_log_folder": Setting("{home}/logs", "Where task logs are written."),
        "level": Setting("INFO", "Level of miniflow's own log messages."),
    },
    "webserver": {
        "host": Setting("127.0.0.1", "Address the webserver listens on."),
        "port": Setting(8080, "Port the webserver listens on."),
        "secret_key": Setting("", "Signs session cookies; generated into the home folder if empty."),
        "page_size": Setting(25, "Rows per page in the UI's lists."),
        "metrics_token": Setting(
            "", "A bearer token that may read /metrics without a user (for Prometheus); empty: users only."
        ),
        "cookie_secure": Setting(
            "auto", "Send the session cookie over HTTPS only: true, false, or auto (when base_url is https://)."
        ),
        "base_url": Setting(
            "", "URL the UI is reached at, for links in e-mails; empty means http://<host>:<port>."
        ),
    },
    "smtp": {
        "smtp_host": Setting("localhost", "SMTP server that e-mail alerts and EmailOperator send through."),
        "smtp_port": Setting(25, "Port of the SMTP server."),
        "smtp_starttls": Setting(True, "Upgrade the connection with STARTTLS (Airflow's default)."),
        "smtp_ssl": Setting(False, "Connect with SSL from the start (SMTPS) instead."),
        "smtp_user": Setting("", "User to log in as; empty means no login."),
        "smtp_password": Setting("", "Password of smtp_user."),
        "smtp_mail_from": Setting("miniflow@example.com", "Sender of the e-mails."),
        "smtp_timeout": Setting(30, "Seconds to wait for the SMTP server."),
        "smtp_retry_limit": Setting(5, "Connection attempts before sending fails."),
    },
    "celery": {
        "broker_url": Setting("redis://127.0.0.1:6379/0", "Celery broker (redis:// or amqp://)."),
        "worker_concurrency": Setting(4, "Task processes per Celery worker."),
        "default_queue": Setting("default", "Queue of tasks that do not set queue=."),
        "visibility_timeout": Setting(
            300, "Seconds after which Redis re-delivers a try whose worker vanished unacknowledged."
        ),
    },
}
