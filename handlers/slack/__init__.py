"""The Slack wing: the request URL and its listeners (app), Block Kit views (views), the
outbox's Slack transport (transport), the coordinator gate (gate), each reader's
language (locale), the programme editor (programmes) and replay protection (once)."""

from handlers.slack.app import SlackChannel
from handlers.slack.views import parse_needs, render_card, render_needs_modal

__all__ = ["SlackChannel", "parse_needs", "render_card", "render_needs_modal"]
