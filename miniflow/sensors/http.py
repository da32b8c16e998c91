"""HttpSensor: poke an HTTP endpoint until it answers as wanted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from miniflow.exceptions import AirflowException
from miniflow.hooks.http import HttpHook
from miniflow.sensors.base import BaseSensorOperator

__all__ = ["HttpSensor"]


class HttpSensor(BaseSensorOperator):
    """Done when `endpoint` answers 2xx/3xx (and `response_check(response)` holds); a
    status in `response_error_codes_allowlist` (404 by default) means "not yet", any
    other error status fails the task."""

    template_fields = ("endpoint", "request_params", "headers")

    def __init__(self, *, endpoint: str, http_conn_id: str = "http_default", method: str = "GET",
                 request_params: dict[str, Any] | None = None, request_kwargs: dict[str, Any] | None = None,
                 headers: dict[str, Any] | None = None, response_error_codes_allowlist: list[str] | None = None,
                 response_check: Callable[..., bool] | None = None, extra_options: dict[str, Any] | None = None,
                 tcp_keep_alive: bool = True, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = method
        self.request_params = request_params or {}
        self.request_kwargs = request_kwargs or {}
        self.headers = headers or {}
        self.allowlist = [str(c) for c in (response_error_codes_allowlist or ["404"])]
        self.response_check = response_check
        self.extra_options = extra_options or {}

    def poke(self, context: dict[str, Any]) -> bool:
        from miniflow.operators.python import callable_kwargs

        hook = HttpHook(self.method, http_conn_id=self.http_conn_id)
        self.log.info("Poking: %s", self.endpoint)
        try:
            response = hook.run(self.endpoint, self.request_params, self.headers, self.extra_options,
                                **self.request_kwargs)
        except AirflowException as exc:
            if str(exc).startswith(tuple(self.allowlist)):
                return False
            raise
        if self.response_check is not None:
            check = self.response_check
            return bool(check(response, **callable_kwargs(check, [response], context)))
        return True
