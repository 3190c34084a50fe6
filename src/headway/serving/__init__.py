"""The request path as plain async functions, independent of HTTP (used by the API, jobs and batches)."""
