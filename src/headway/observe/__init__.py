"""Observability: request log, cost, metrics, traces, structured logs, feedback, alerts, retention."""
