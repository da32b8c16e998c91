"""Posting to a Slack Incoming Webhook from a DAG: as a task (`SlackWebhookOperator`)
or as a callback (`SlackWebhookNotifier`), both through `SlackWebhookHook`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.hooks.slack import SlackWebhookHook
from miniflow.notifications import BaseNotifier

__all__ = ["SlackWebhookOperator", "SlackWebhookNotifier", "send_slack_webhook_notification"]


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
