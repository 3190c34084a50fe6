"""Human review: policies, durable review items, decisions, deadlines and webhooks. See ``README.md``."""

from headway.review.access import Reviewer
from headway.review.console import console_pages
from headway.review.items import STATUSES, ReviewItem, ReviewQuery, status_filter
from headway.review.release import ID_HEADER, Answer, answer, answer_text, parse_wait, preference_applied
from headway.review.service import ReviewService, build_review_service
from headway.review.stage import audited_stream, review_answer, review_contract_failure, screen, upstream_body
from headway.review.waiters import CHANNEL

__all__ = [
    "CHANNEL",
    "ID_HEADER",
    "STATUSES",
    "Answer",
    "ReviewItem",
    "ReviewQuery",
    "ReviewService",
    "Reviewer",
    "answer",
    "answer_text",
    "audited_stream",
    "build_review_service",
    "console_pages",
    "parse_wait",
    "preference_applied",
    "review_answer",
    "review_contract_failure",
    "screen",
    "status_filter",
    "upstream_body",
]
