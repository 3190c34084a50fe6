"""Decisions as quality data: on the request record, and as rows of the evaluation dataset.

The request log writes a record once, off the hot path, so a decision may come before
its record reaches the store. Decisions therefore live in ``review_items`` first; this
module then copies each onto its record (``quality["review"]``) and, for human
decisions, adds a row to the observe part's feedback table, which is what
``GET /admin/feedback/export`` (the evaluation dataset) reads. Items carry a
``record_synced`` flag; every replica's sweeper retries those whose record was not there
yet, so nothing depends on which replica decided or on timing.
"""

from __future__ import annotations

from sqlalchemy import select, update

from headway.observe import Feedback, FeedbackStore
from headway.review.items import ReviewItem
from headway.review.release import answer_text
from headway.store import Database, requests
from headway.types import JSON

SCORES = {"approved": 1.0, "edited": 0.5, "rejected": 0.0}
LABEL_PREFIX = "review:"


def human_decision(item: ReviewItem) -> bool:
    return item.status in SCORES and not (item.decided_by or "").startswith("system")


def feedback_id(item: ReviewItem) -> str:
    return "fb_" + item.review_id


def dataset_row(item: ReviewItem) -> Feedback:
    """The evaluation-dataset row of a human decision: input, the model's answer, the final answer."""
    metadata: JSON = {
        "source": "review",
        "review_id": item.review_id,
        "policy": item.policy,
        "outcome": item.status,
        "reviewer": item.decided_by,
        "time_to_decision_s": item.time_to_decision_s,
        "escalated": item.level > 0,
        "input": item.request.get("messages"),
        "original": answer_text(item.original),
        "final": answer_text(item.released) if item.released is not None else None,
    }
    return Feedback(
        feedback_id=feedback_id(item),
        request_id=item.request_id,
        created_at=float(item.decided_at or 0.0),
        caller=item.decided_by or "unknown",
        score=SCORES[item.status],
        label=LABEL_PREFIX + item.status,
        comment=item.comment,
        metadata=metadata,
    )


class RecordSync:
    def __init__(self, database: Database, feedback: FeedbackStore | None) -> None:
        self.database = database
        self.feedback = feedback

    def sync(self, item: ReviewItem) -> bool:
        """Copy ``item``'s decision onto its record; False while the record is not in the store."""
        with self.database.transaction("update the request record") as connection:
            row = connection.execute(select(requests.c.quality).where(requests.c.request_id == item.request_id)).first()
            if row is None:
                return False
            quality = dict(row.quality or {})
            quality["review"] = item.quality()
            connection.execute(update(requests).where(requests.c.request_id == item.request_id).values(quality=quality))
        if self.feedback is not None and human_decision(item):
            row_id = feedback_id(item)
            if all(f.feedback_id != row_id for f in self.feedback.for_request(item.request_id)):
                self.feedback.add(dataset_row(item))
        return True
