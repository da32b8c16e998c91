"""HttpOperator (Airflow's SimpleHttpOperator): one HTTP call through a connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException
from miniflow.hooks.http import HttpHook

__all__ = ["HttpOperator", "SimpleHttpOperator"]


class HttpOperator(BaseOperator):
    """Send `method` to `endpoint` of `http_conn_id`'s base URL. A response that is not
    2xx/3xx fails the try (so task retries cover server errors); `response_check`
    returning False fails it too. The XCom is the body text, or what
    `response_filter(response)` returns."""

    template_fields = ("endpoint", "data", "headers")
    template_fields_renderers = {"headers": "json", "data": "py"}
    template_ext = ()
    ui_color = "#f4a460"

    def __init__(self, *, endpoint: str | None = None, method: str = "POST", data: Any = None,
                 headers: dict[str, str] | None = None, response_check: Callable[..., bool] | None = None,
                 response_filter: Callable[..., Any] | None = None, extra_options: dict[str, Any] | None = None,
                 http_conn_id: str = "http_default", log_response: bool = False, auth_type: Any = None,
                 tcp_keep_alive: bool = True, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.method = method
        self.data = data
        self.headers = headers or {}
        self.response_check = response_check
        self.response_filter = response_filter
        self.extra_options = extra_options or {}
        self.http_conn_id = http_conn_id
        self.log_response = log_response
        self.auth_type = auth_type

    def execute(self, context: dict[str, Any]) -> Any:
        from miniflow.operators.python import callable_kwargs

        hook = HttpHook(self.method, http_conn_id=self.http_conn_id, auth_type=self.auth_type)
        self.log.info("Calling HTTP method")
        response = hook.run(self.endpoint, self.data, self.headers, self.extra_options)
        if self.log_response:
            self.log.info(response.text)
        if self.response_check is not None:
            check = self.response_check
            if not check(response, **callable_kwargs(check, [response], context)):
                raise AirflowException("Response check returned False.")
        if self.response_filter is not None:
            keep = self.response_filter
            return keep(response, **callable_kwargs(keep, [response], context))
        return response.text


SimpleHttpOperator = HttpOperator
