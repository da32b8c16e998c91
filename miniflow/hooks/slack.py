"""Slack, through a connection: an Incoming Webhook (`SlackWebhookHook`) or the Web API
with a bot or user token (`SlackHook`).

A webhook connection (type ``slackwebhook``) holds the webhook's token in its
password: either the whole URL, or the path after ``https://hooks.slack.com/services/``
(the host, and the schema, may name another endpoint). Slack answers 200 and ``ok``;
any other status fails the call. A Web API connection (type ``slack``) holds the token
in its password, and Slack answers ``{"ok": false, "error": ...}`` when it refuses a
call, which fails it too. Either connection's extra may set ``timeout`` and ``proxy``
(and ``base_url``, the Web API's). Both post once: slack_sdk's ``retry_handlers`` are
accepted and not used. Tokens never appear in an error.
"""

from __future__ import annotations

import json
from typing import Any

from miniflow.exceptions import AirflowException, AirflowNotFoundException
from miniflow.hooks.base import BaseHook

__all__ = ["SlackWebhookHook", "SlackHook"]

SLACK_API = "https://slack.com/api/"


class SlackWebhookHook(BaseHook):
    conn_name_attr = "slack_webhook_conn_id"
    default_conn_name = "slack_default"
    conn_type = "slackwebhook"
    hook_name = "Slack Incoming Webhook"

    def __init__(self, *, slack_webhook_conn_id: str = default_conn_name, timeout: int | None = None,
                 proxy: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.timeout = timeout
        self.proxy = proxy

    def _endpoint(self) -> tuple[str, float | None, str | None]:
        """The webhook's URL, and the timeout and proxy to call it with."""
        conn = self.get_connection(self.slack_webhook_conn_id)
        token = (conn.password or "").strip()
        if not token:
            raise AirflowNotFoundException(
                f"connection {self.slack_webhook_conn_id!r} has no password (the Slack webhook token)")
        if "://" in token:
            url = token
        else:
            base = conn.host or ""
            if "://" not in base:
                base = f"{conn.schema or 'https'}://{conn.host or 'hooks.slack.com/services'}"
            url = (base.rstrip("/") + "/" + token.lstrip("/")).rstrip("/")
        extra = conn.extra_dejson
        timeout = self.timeout or extra.get("timeout")
        return url, float(timeout) if timeout else None, self.proxy or extra.get("proxy")

    def send_dict(self, body: dict[str, Any] | str, *, headers: dict[str, str] | None = None) -> Any:
        """POST `body` (a dict, or JSON text) as the message; the `requests` response."""
        import requests

        if isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError as exc:
                raise AirflowException(f"Slack message body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise TypeError(f"Slack message body must be a dict, got {type(body).__name__}")
        url, timeout, proxy = self._endpoint()
        try:
            response = requests.post(url, json=body, headers=headers, timeout=timeout,
                                     proxies={"http": proxy, "https": proxy} if proxy else None)
        except requests.exceptions.RequestException as exc:
            raise AirflowException(f"cannot reach the Slack webhook of {self.slack_webhook_conn_id!r}: "
                                   f"{type(exc).__name__}") from None  # the URL holds the token: not shown
        if response.status_code != 200:
            raise AirflowException(f"Slack webhook answered {response.status_code}: {response.text[:200]!r}")
        return response

    def send(self, *, text: str | None = None, blocks: list[dict[str, Any]] | None = None,
             attachments: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
             **fields: Any) -> Any:
        """Post a message; `fields` are further fields of Slack's message (``unfurl_links``,
        and the legacy ``channel``, ``username``, ``icon_emoji``, ``icon_url``)."""
        body = {"text": text, "blocks": blocks, "attachments": attachments, **fields}
        return self.send_dict({k: v for k, v in body.items() if v is not None}, headers=headers)

    def send_text(self, text: str, *, unfurl_links: bool | None = None, unfurl_media: bool | None = None,
                  headers: dict[str, str] | None = None) -> Any:
        return self.send(text=text, unfurl_links=unfurl_links, unfurl_media=unfurl_media, headers=headers)


class SlackHook(BaseHook):
    """Slack's Web API: `call` a method (``chat.postMessage``...) with the connection's token."""

    conn_name_attr = "slack_conn_id"
    default_conn_name = "slack_api_default"
    conn_type = "slack"
    hook_name = "Slack API"

    def __init__(self, *, slack_conn_id: str = default_conn_name, base_url: str | None = None,
                 timeout: int | None = None, proxy: str | None = None, retry_handlers: Any = None,
                 **kwargs: Any) -> None:
        super().__init__()
        self.slack_conn_id = slack_conn_id
        self.base_url = base_url
        self.timeout = timeout
        self.proxy = proxy
        self.retry_handlers = retry_handlers

    def call(self, api_method: str, *, json: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """POST to `api_method` (a JSON body, or form `data`); Slack's answer, once it says ``ok``."""
        import requests

        conn = self.get_connection(self.slack_conn_id)
        token = (conn.password or "").strip()
        if not token:
            raise AirflowNotFoundException(f"connection {self.slack_conn_id!r} has no password (the Slack API token)")
        extra = conn.extra_dejson
        base = self.base_url or extra.get("base_url") or SLACK_API
        timeout = self.timeout or extra.get("timeout")
        proxy = self.proxy or extra.get("proxy")
        try:
            response = requests.post(base.rstrip("/") + "/" + api_method, json=json, data=data, params=params,
                                     headers={"Authorization": f"Bearer {token}"},
                                     timeout=float(timeout) if timeout else None,
                                     proxies={"http": proxy, "https": proxy} if proxy else None)
        except requests.exceptions.RequestException as exc:
            raise AirflowException(f"cannot reach Slack's {api_method} for {self.slack_conn_id!r}: "
                                   f"{type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else response.text[:200]
            raise AirflowException(f"Slack's {api_method} answered {response.status_code}: {error!r}")
        return answer
