"""Posting to Slack from a DAG: to an Incoming Webhook as a task
(`SlackWebhookOperator`) or as a callback (`SlackWebhookNotifier`), through
`SlackWebhookHook`; or with the Web API's ``chat.postMessage`` and a token
(`SlackAPIPostOperator`, `SlackNotifier`), through `SlackHook`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException
from miniflow.hooks.slack import SlackHook, SlackWebhookHook
from miniflow.notifications import BaseNotifier

__all__ = ["SlackWebhookOperator", "SlackWebhookNotifier", "send_slack_webhook_notification", "SlackAPIOperator",
           "SlackAPIPostOperator", "SlackNotifier", "send_slack_notification"]


class SlackWebhookOperator(BaseOperator):
    """Post `message` (and `attachments`, `blocks`) to the webhook of `slack_webhook_conn_id`.

    ``channel``, ``username``, ``icon_emoji`` and ``icon_url`` are sent as Slack's legacy
    webhooks take them; an app's webhook ignores them.
    """

    template_fields: Sequence[str] = ("message", "attachments", "blocks", "channel", "username", "proxy")

    def __init__(self, *, slack_webhook_conn_id: str, message: str = "", attachments: list[Any] | None = None,
                 blocks: list[Any] | None = None, channel: str | None = None, username: str | None = None,
                 icon_emoji: str | None = None, icon_url: str | None = None, proxy: str | None = None,
                 timeout: int | None = None, retry_handlers: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.message = message
        self.attachments = attachments
        self.blocks = blocks
        self.channel = channel
        self.username = username
        self.icon_emoji = icon_emoji
        self.icon_url = icon_url
        self.proxy = proxy
        self.timeout = timeout
        self.retry_handlers = retry_handlers  # slack_sdk's; miniflow posts once

    @functools.cached_property
    def hook(self) -> SlackWebhookHook:
        return SlackWebhookHook(slack_webhook_conn_id=self.slack_webhook_conn_id, proxy=self.proxy,
                                timeout=self.timeout)

    def execute(self, context: dict[str, Any]) -> None:
        self.hook.send(text=self.message, attachments=self.attachments, blocks=self.blocks, channel=self.channel,
                       username=self.username, icon_emoji=self.icon_emoji, icon_url=self.icon_url)


class SlackWebhookNotifier(BaseNotifier):
    """A callback that posts `text` (rendered against the callback's context)."""

    template_fields = ("slack_webhook_conn_id", "text", "attachments", "blocks", "proxy", "timeout")

    def __init__(self, *, slack_webhook_conn_id: str = SlackWebhookHook.default_conn_name, text: str,
                 blocks: list[Any] | None = None, unfurl_links: bool | None = None,
                 unfurl_media: bool | None = None, proxy: str | None = None, timeout: int | None = None,
                 attachments: list[Any] | None = None, retry_handlers: Any = None) -> None:
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.text = text
        self.blocks = blocks
        self.unfurl_links = unfurl_links
        self.unfurl_media = unfurl_media
        self.proxy = proxy
        self.timeout = timeout
        self.attachments = attachments
        self.retry_handlers = retry_handlers

    def notify(self, context: dict[str, Any]) -> None:
        hook = SlackWebhookHook(slack_webhook_conn_id=self.slack_webhook_conn_id, proxy=self.proxy,
                                timeout=self.timeout)
        hook.send(text=self.text, blocks=self.blocks, attachments=self.attachments,
                  unfurl_links=self.unfurl_links, unfurl_media=self.unfurl_media)


send_slack_webhook_notification = SlackWebhookNotifier


class SlackAPIOperator(BaseOperator):
    """Call Slack's Web API `method` with `api_params` (a JSON body) on `slack_conn_id`."""

    def __init__(self, *, slack_conn_id: str = SlackHook.default_conn_name, method: str | None = None,
                 api_params: dict[str, Any] | None = None, base_url: str | None = None, proxy: str | None = None,
                 timeout: int | None = None, retry_handlers: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slack_conn_id = slack_conn_id
        self.method = method
        self.api_params = api_params
        self.base_url = base_url
        self.proxy = proxy
        self.timeout = timeout
        self.retry_handlers = retry_handlers

    @functools.cached_property
    def hook(self) -> SlackHook:
        return SlackHook(slack_conn_id=self.slack_conn_id, base_url=self.base_url, proxy=self.proxy,
                         timeout=self.timeout)

    def construct_api_call_params(self) -> Any:
        """Fill `api_params` before the call (a subclass's hook, as in Airflow)."""

    def execute(self, context: dict[str, Any]) -> None:
        if not self.api_params:
            self.construct_api_call_params()
        if not self.method:
            raise AirflowException(f"task {self.task_id!r}: SlackAPIOperator needs the API method to call")
        self.hook.call(self.method, json=self.api_params)


class SlackAPIPostOperator(SlackAPIOperator):
    """Post `text` (and `blocks`, `attachments`) to `channel` with ``chat.postMessage``."""

    template_fields: Sequence[str] = ("username", "text", "attachments", "blocks", "channel")
    ui_color = "#FFBA40"

    def __init__(self, channel: str = "#general", username: str = "Airflow",
                 text: str = "No message has been set.", icon_url: str | None = None,
                 blocks: list[Any] | None = None, attachments: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(method="chat.postMessage", **kwargs)
        self.channel = channel
        self.username = username
        self.text = text
        self.icon_url = icon_url
        self.blocks = blocks
        self.attachments = attachments

    def construct_api_call_params(self) -> Any:
        params = {"channel": self.channel, "username": self.username, "text": self.text,
                  "icon_url": self.icon_url, "attachments": self.attachments, "blocks": self.blocks}
        self.api_params = {k: v for k, v in params.items() if v is not None}


class SlackNotifier(BaseNotifier):
    """A callback that posts `text` (rendered against the callback's context) to
    `channel` with ``chat.postMessage``."""

    template_fields = ("text", "channel", "username", "attachments", "blocks")

    def __init__(self, *, slack_conn_id: str = SlackHook.default_conn_name, text: str = "This is a default message",
                 channel: str = "#general", username: str = "Airflow", icon_url: str | None = None,
                 blocks: list[Any] | None = None, attachments: list[Any] | None = None, base_url: str | None = None,
                 proxy: str | None = None, timeout: int | None = None, retry_handlers: Any = None,
                 unfurl_links: bool = True, unfurl_media: bool = True) -> None:
        self.slack_conn_id = slack_conn_id
        self.text = text
        self.channel = channel
        self.username = username
        self.icon_url = icon_url
        self.blocks = blocks
        self.attachments = attachments
        self.base_url = base_url
        self.proxy = proxy
        self.timeout = timeout
        self.retry_handlers = retry_handlers
        self.unfurl_links = unfurl_links
        self.unfurl_media = unfurl_media

    def notify(self, context: dict[str, Any]) -> None:
        params = {"channel": self.channel, "username": self.username, "text": self.text, "icon_url": self.icon_url,
                  "attachments": self.attachments, "blocks": self.blocks, "unfurl_links": self.unfurl_links,
                  "unfurl_media": self.unfurl_media}
        hook = SlackHook(slack_conn_id=self.slack_conn_id, base_url=self.base_url, proxy=self.proxy,
                         timeout=self.timeout)
        hook.call("chat.postMessage", json={k: v for k, v in params.items() if v is not None})


send_slack_notification = SlackNotifier
