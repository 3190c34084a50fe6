"""Observability: request log, cost, metrics, traces, structured logs, feedback, alerts, retention."""

from headway.observe.cost import Price, builtin_price, cost_usd
from headway.observe.cost_report import GROUP_COLUMNS, GroupBy, cost_by, parse_time, totals
from headway.observe.feedback import Feedback, FeedbackStore, parse_feedback
from headway.observe.logs import configure_logging
from headway.observe.metrics import CONTENT_TYPE, SERVED_PATHS, served_path
from headway.observe.middleware import ObserveMiddleware
from headway.observe.observability import Observability
from headway.observe.periodic import BackgroundTask, every
from headway.observe.request_log import RequestLog
from headway.observe.webhooks import (
    Delivery,
    OutboxMetrics,
    WebhookDelivery,
    WebhookVerificationError,
    signed_headers,
    verify,
)

__all__ = [
    "CONTENT_TYPE",
    "GROUP_COLUMNS",
    "SERVED_PATHS",
    "BackgroundTask",
    "Delivery",
    "Feedback",
    "FeedbackStore",
    "GroupBy",
    "Observability",
    "ObserveMiddleware",
    "OutboxMetrics",
    "Price",
    "RequestLog",
    "WebhookDelivery",
    "WebhookVerificationError",
    "builtin_price",
    "configure_logging",
    "cost_by",
    "cost_usd",
    "every",
    "parse_feedback",
    "parse_time",
    "served_path",
    "signed_headers",
    "totals",
    "verify",
]
