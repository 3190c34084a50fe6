"""Input guards of the request path (limits, injection heuristics, output contracts) and the redaction of what Headway stores or logs. See ``README.md``."""
