"""HttpHook: HTTP calls to the base URL of a connection, with `requests`."""

from __future__ import annotations

from typing import Any

from miniflow.exceptions import AirflowException
from miniflow.hooks.base import BaseHook

__all__ = ["HttpHook"]


class HttpHook(BaseHook):
    """``run(endpoint, data, headers)`` sends `method` to the connection's
    ``schema://host:port`` (a host with its own ``http://`` is taken as the base URL),
    with the connection's login and password as basic auth and its extra as headers.
    A response that is not 2xx or 3xx raises ``AirflowException("<status>:<reason>")``."""

    conn_name_attr = "http_conn_id"
    default_conn_name = "http_default"
    conn_type = "http"
    hook_name = "HTTP"

    def __init__(self, method: str = "POST", http_conn_id: str = "http_default", auth_type: Any = None,
                 tcp_keep_alive: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.method = method.upper()
        self.http_conn_id = http_conn_id
        self.auth_type = auth_type
        self.base_url = ""

    def get_conn(self, headers: dict[str, Any] | None = None) -> Any:
        import requests

        session = requests.Session()
        if self.http_conn_id:
            conn = self.get_connection(self.http_conn_id)
            host = conn.host or ""
            if "://" in host:
                self.base_url = host
            else:
                scheme = conn.schema or ("https" if conn.conn_type == "https" else "http")
                self.base_url = f"{scheme}://{host}" if host else ""
            if conn.port:
                self.base_url += f":{conn.port}"
            if conn.login:
                session.auth = (self.auth_type or requests.auth.HTTPBasicAuth)(conn.login, conn.password or "")
            session.headers.update({k: str(v) for k, v in conn.extra_dejson.items()})
        if headers:
            session.headers.update(headers)
        return session

    def url_for(self, endpoint: str | None) -> str:
        if not endpoint:
            return self.base_url
        if endpoint.startswith(("http://", "https://")):
            return endpoint
        return self.base_url.rstrip("/") + "/" + endpoint.lstrip("/") if self.base_url else endpoint

    def run(self, endpoint: str | None = None, data: Any = None, headers: dict[str, Any] | None = None,
            extra_options: dict[str, Any] | None = None, **request_kwargs: Any) -> Any:
        import requests

        session = self.get_conn(headers)
        url = self.url_for(endpoint)
        options = dict(extra_options or {})
        check = options.pop("check_response", True)
        if self.method == "GET":
            request = requests.Request(self.method, url, params=data, headers=session.headers, **request_kwargs)
        elif self.method == "HEAD":
            request = requests.Request(self.method, url, headers=session.headers, **request_kwargs)
        else:
            request = requests.Request(self.method, url, data=data, headers=session.headers, **request_kwargs)
        prepared = session.prepare_request(request)
        self.log.info("Sending '%s' to url: %s", self.method, url)
        try:
            response = session.send(prepared, stream=options.get("stream", False), verify=options.get("verify", True),
                                    proxies=options.get("proxies", {}), cert=options.get("cert"),
                                    timeout=options.get("timeout"), allow_redirects=options.get("allow_redirects", True))
        except requests.exceptions.ConnectionError as exc:
            raise AirflowException(f"cannot reach {url}: {exc}") from None
        if check:
            self.check_response(response)
        return response

    def check_response(self, response: Any) -> None:
        import requests

        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError:
            self.log.error("HTTP error: %s", response.reason)
            self.log.error(response.text)
            raise AirflowException(f"{response.status_code}:{response.reason}") from None

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.run()
            return True, "Connection successfully tested"
        except Exception as exc:  # noqa: BLE001 -- the test reports any failure as text
            return False, str(exc)
