"""``headway review list|show|claim|release|decide``: the review queue, straight against the store.

Claims, releases and decisions are taken as a person: the Headway API key or OIDC token in
``--key`` / ``HEADWAY_API_KEY`` is verified like a request's, and the item, its events and
the audit trail name that identity (never the machine's login). ``list`` and ``show`` read
as that reviewer when a key is given, else as the operator at the store. A decision taken here wakes
callers waiting on any gateway: through Redis when ``redis:`` is configured, else within
their ``review.poll_interval_ms``; the gateways' sweepers send its webhook and copy it onto
the request record. Every transition is written to the audit trail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from headway.cli._common import Column, friendly_errors, print_table, stderr_console
from headway.cli.keys_cmd import ConfigOption, JsonOption, Session, cli_actor
from headway.errors import AuthenticationError, InvalidRequestError

app = typer.Typer(help="Human review: list, show, claim, release and decide held answers.", no_args_is_help=True)


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# The review id is never cut; at 80 columns the least useful columns give way (see fit_table).
REVIEW_COLUMNS = (
    Column("id", key=True),
    Column("status", priority=9),
    Column("policy", priority=5),
    Column("action", priority=1),
    Column("model", priority=6),
    Column("caller", priority=4),
    Column("team", priority=2),
    Column("created (UTC)", priority=7),
    Column("deadline (UTC)", priority=8),
    Column("claimed by", priority=3),
)


def _service(session: Session) -> Any:
    from headway.review import ReviewService

    return ReviewService(session.config.review, session.store.database, public_url=session.config.server.public_url)


KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar="HEADWAY_API_KEY", show_envvar=True,
                 help="Your Headway API key or OIDC token: the identity recorded with what you do."),
]


def _reviewer(session: Session, credential: str | None, *, acting: bool = True) -> Any:
    """The reviewer ``credential`` proves; the operator at the store only for reading without one."""
    from headway.auth import AuthService
    from headway.review import Reviewer

    if not credential:
        if not acting:
            return Reviewer.operator(cli_actor())
        raise AuthenticationError(
            "Review decisions are recorded under a person's identity: set HEADWAY_API_KEY (or pass --key) to your "
            "Headway API key or OIDC token (it needs reviews:decide).", code="missing_credential",
        )

    async def verify() -> Any:
        auth = AuthService(session.config, session.store)
        try:
            return await auth.authenticator.authenticate(credential)
        finally:
            await auth.close()

    return Reviewer.from_principal(asyncio.run(verify()))


def _audit(session: Session, reviewer: Any, action: str, review_id: str, **detail: Any) -> None:
    """The audit trail names the reviewer who acted (the CLI's login goes in the detail)."""
    from headway.auth import AuditEvent

    session.audit.append([AuditEvent(action, reviewer.name, target=f"review:{review_id}", detail={**detail, "via": cli_actor()})])


def _announce(session: Session, review_id: str) -> None:
    """Publish the wake-up on Redis, when there is one; without it gateways find the decision by polling."""
    redis = session.config.redis
    if redis is None:
        return
    from headway.backends import RedisBackend
    from headway.errors import HeadwayError
    from headway.review import CHANNEL

    async def publish() -> None:
        backend = RedisBackend(redis.url, key_prefix=redis.key_prefix, timeout_s=redis.timeout_ms / 1000)
        try:
            await backend.publish(CHANNEL, review_id.encode())
        finally:
            await backend.close()

    try:
        asyncio.run(publish())
    except HeadwayError as exc:
        stderr_console().print(f"[yellow]warning:[/] could not publish the wake-up ({exc}); gateways will poll")


@app.command("list")
@friendly_errors
def list_reviews(
    config: ConfigOption = "headway.yaml",
    status: Annotated[str, typer.Option(help="open, final, all, or one status (pending, claimed, …).")] = "open",
    policy: str | None = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
    key: KeyOption = None,
) -> None:
    """List review items, newest first."""
    from headway.review import STATUSES, ReviewQuery, status_filter

    statuses = status_filter(status)
    if statuses is None:
        raise InvalidRequestError(f"--status must be open, final, all or one of {', '.join(STATUSES)} (comma-separated)")
    query = ReviewQuery(status=statuses, policy=policy, limit=limit)
    with Session(config) as session:
        items = asyncio.run(_service(session).find(query, _reviewer(session, key, acting=False)))
    if as_json:
        for item in items:
            print(json.dumps(item.summary()))
        return
    rows = [
        [i.review_id, i.status + (" (escalated)" if i.level else ""), i.policy, i.action, i.model, i.caller,
         i.team or "any", _when(i.created_at), _when(i.deadline_at), i.claimed_by or "-"]
        for i in items
    ]
    print_table(f"{len(items)} review items ({status})", REVIEW_COLUMNS, rows)


@app.command("show")
@friendly_errors
def show(
    review_id: Annotated[str, typer.Argument(help="Review id (rev_…).")],
    config: ConfigOption = "headway.yaml",
    as_json: JsonOption = False,
    key: KeyOption = None,
) -> None:
    """One item: the conversation, context, findings, the answer and its history."""
    from headway.review import answer_text

    with Session(config) as session:
        service = _service(session)
        item = asyncio.run(service.visible(review_id, _reviewer(session, key, acting=False)))
        events = asyncio.run(service.events(review_id))
    if as_json:
        print(json.dumps({**item.detail(), "events": [e.to_dict() for e in events]}))
        return
    console = Console()
    console.print(f"[bold]{item.review_id}[/] {item.status}{' (escalated)' if item.level else ''} · {item.policy} · {item.action}")
    console.print(f"why: {item.reason}\nrequest: {item.request_id} · {item.model} · {item.caller}\n"
                  f"deadline: {_when(item.deadline_at)} · default {item.default_action}", highlight=False)
    for message in item.request.get("messages") or []:
        console.print(f"[dim]{message.get('role')}:[/] {message.get('content')}", highlight=False)
    console.print(f"\n[bold]answer:[/] {answer_text(item.original) or '(none: the output contract failed)'}", highlight=False)
    if item.released is not None and item.status == "edited":
        console.print(f"[bold]released (edited):[/] {answer_text(item.released)}", highlight=False)
    for event in events:
        console.print(f"[dim]{_when(event.at)}[/] {event.actor} {event.kind} {event.from_status or '-'} → {event.to_status}"
                      + (f": {event.comment}" if event.comment else ""), highlight=False)


@app.command("claim")
@friendly_errors
def claim(
    review_id: Annotated[str, typer.Argument(help="Review id (rev_…).")], config: ConfigOption = "headway.yaml", key: KeyOption = None
) -> None:
    """Claim an item for review.lease_s seconds."""
    with Session(config) as session:
        reviewer = _reviewer(session, key)
        item = asyncio.run(_service(session).claim(review_id, reviewer))
        _audit(session, reviewer, "review.claim", review_id, policy=item.policy)
    Console().print(f"Claimed {review_id} until {_when(item.lease_until)}.")


@app.command("release")
@friendly_errors
def release(
    review_id: Annotated[str, typer.Argument(help="Review id (rev_…).")], config: ConfigOption = "headway.yaml", key: KeyOption = None
) -> None:
    """Give a claimed item back to the queue."""
    with Session(config) as session:
        reviewer = _reviewer(session, key)
        item = asyncio.run(_service(session).release(review_id, reviewer))
        _audit(session, reviewer, "review.release", review_id, policy=item.policy)
    Console().print(f"Released {review_id}; it is {item.status} again.")


@app.command("decide")
@friendly_errors
def decide(
    review_id: Annotated[str, typer.Argument(help="Review id (rev_…).")],
    decision: Annotated[str, typer.Argument(help="approve, edit or reject.")],
    config: ConfigOption = "headway.yaml",
    output: Annotated[str | None, typer.Option(help="The edited answer (edit).")] = None,
    output_file: Annotated[Path | None, typer.Option(help="Read the edited answer from a file (edit).")] = None,
    comment: Annotated[str | None, typer.Option(help="Why; kept with the decision.")] = None,
    as_json: JsonOption = False,
    key: KeyOption = None,
) -> None:
    """Approve, edit or reject an item; the caller gets the result at once."""
    if output_file is not None:
        output = output_file.read_text(encoding="utf-8")
    with Session(config) as session:
        reviewer = _reviewer(session, key)
        item = asyncio.run(_service(session).decide(review_id, reviewer, decision, comment=comment, output=output))
        _audit(session, reviewer, "review.decision", review_id, policy=item.policy, status=item.status)
        _announce(session, review_id)
    if as_json:
        print(json.dumps(item.summary()))
        return
    Console().print(f"{review_id}: {item.status} by {item.decided_by}.")
