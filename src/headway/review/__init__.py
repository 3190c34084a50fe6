"""Human review: policies, durable review items, decisions, deadlines and webhooks. See ``README.md``."""
