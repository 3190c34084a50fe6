"""``headway keys create|list|rotate|revoke``: API keys, straight against the store.

Running gateways see a revocation within ``auth.revocation_poll_s`` (they poll the key
table); every change is written to the audit trail with the operating-system user as actor.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from typing import Annotated, Any

import typer
from rich.console import Console

from headway.cli._common import Column, friendly_errors, print_table
from headway.config import HeadwayConfig
from headway.errors import ConfigError, NotFoundError

app = typer.Typer(help="API keys: create (shown once), list, rotate, revoke.", no_args_is_help=True)
ConfigOption = Annotated[str, typer.Option("--config", "-c", help="Path to the YAML config file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class Session:
    """The config, an open store and the auth repositories; closed on exit."""

    def __init__(self, config_path: str) -> None:
        from headway.auth import AuditLog, KeyRepository
        from headway.config import load_config
        from headway.store import open_store

        self.config: HeadwayConfig = load_config(config_path)
        self.store = open_store(self.config.store)
        self.store.migrate()
        secret = self.config.auth.audit.chain_secret
        self.audit = AuditLog(self.store.database, secret=secret.get_secret_value().encode() if secret else None)
        self.keys = KeyRepository(self.store.database)

    def record(self, action: str, target: str, **detail: Any) -> None:
        from headway.auth import AuditEvent

        self.audit.append([AuditEvent(action, cli_actor(), target=target, detail=detail)])

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()


# The key id is never cut; at 80 columns the prefix and the dates give way first.
KEY_COLUMNS = (
    Column("id", key=True),
    Column("prefix", priority=0),
    Column("principal", priority=5),
    Column("team", priority=3),
    Column("roles", priority=4),
    Column("status", priority=6),
    Column("created (UTC)", priority=1),
    Column("expires (UTC)", priority=2),
)


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise ConfigError(f"--expires-in {text!r}: expected seconds or a number with s, m, h or d (e.g. 90d)") from None


@app.command("create")
@friendly_errors
def create(
    principal: Annotated[str, typer.Option(help="Who the key is for (user or service account).")],
    role: Annotated[list[str], typer.Option("--role", help="Role; repeat for several.")],
    config: ConfigOption = "headway.yaml",
    team: Annotated[str | None, typer.Option(help="Team (tenant).")] = None,
    kind: Annotated[str, typer.Option(help="user or service.")] = "service",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Limit to these permissions; repeat.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Allowed model (glob); repeat.")] = None,
    collection: Annotated[list[str] | None, typer.Option("--collection", help="Allowed collection (glob); repeat.")] = None,
    data_class: Annotated[str | None, typer.Option(help="Data class of everything sent with this key.")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Allowed region; repeat.")] = None,
    expires_in: Annotated[str | None, typer.Option(help="Lifetime, e.g. 90d or 3600.")] = None,
    description: str | None = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it once."""
    from headway.auth import anonymous, key_spec, parse_key_request

    with Session(config) as session:
        request = parse_key_request(
            {
                "principal": principal, "roles": role, "team": team, "kind": kind, "scopes": scope, "models": model,
                "collections": collection, "data_class": data_class, "regions": region, "description": description,
                "expires_in_s": _duration(expires_in) if expires_in else None,
            }
        )
        # The operator at the store is trusted like an admin; the policy still checks names and roles.
        spec = key_spec(session.config.auth, request, anonymous(session.config.auth.data_classes))
        record, token = session.keys.create(spec, created_by=cli_actor())
        public = record.to_public()
        session.record("key.create", f"key:{record.key_id}", principal=principal, roles=list(spec.roles), team=spec.team)
    if as_json:
        print(json.dumps({**public, "key": token}))
        return
    console = Console()
    console.print(f"[bold]Created key {record.key_id}[/] for {principal} ({', '.join(spec.roles)})")
    console.print(f"\n  [bold green]{token}[/]\n", highlight=False)
    console.print("Store it now: Headway keeps only a hash and cannot show it again.")


@app.command("list")
@friendly_errors
def list_keys(
    config: ConfigOption = "headway.yaml",
    principal: str | None = None,
    team: str | None = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked and expired keys.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List keys (never their secrets)."""
    with Session(config) as session:
        records = session.keys.list_keys(principal=principal, team=team, include_inactive=all_keys, limit=1000)
    if as_json:
        for record in records:
            print(json.dumps(record.to_public()))
        return
    rows = []
    for r in records:
        public = r.to_public()
        rows.append([r.key_id, public["prefix"], r.spec.principal, r.spec.team or "-", ", ".join(r.spec.roles),
                     public["status"], _when(r.created_at), _when(r.spec.expires_at)])
    print_table(f"{len(records)} keys", KEY_COLUMNS, rows)


@app.command("rotate")
@friendly_errors
def rotate(
    key_id: Annotated[str, typer.Argument(help="Key id (the part after hw_live_).")],
    config: ConfigOption = "headway.yaml",
    grace: Annotated[str, typer.Option(help="How long the old key keeps working, e.g. 1h.")] = "0",
    as_json: JsonOption = False,
) -> None:
    """Issue a successor with the same grants and retire the old key (after --grace)."""
    with Session(config) as session:
        rotated = session.keys.rotate(key_id, created_by=cli_actor(), grace_s=_duration(grace))
        if rotated is None:
            raise NotFoundError(f"no API key {key_id!r}")
        old, new, token = rotated
        session.record("key.rotate", f"key:{key_id}", new_key=new.key_id, old_key_ends=old.revoked_at)
    if as_json:
        print(json.dumps({**new.to_public(), "key": token, "replaces": old.key_id}))
        return
    Console().print(f"[bold]Key {key_id} → {new.key_id}[/]\n\n  [bold green]{token}[/]\n\nStore it now; it is not shown again.", highlight=False)


@app.command("revoke")
@friendly_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (the part after hw_live_).")],
    config: ConfigOption = "headway.yaml",
) -> None:
    """Revoke a key now."""
    with Session(config) as session:
        record = session.keys.revoke(key_id)
        if record is None:
            raise NotFoundError(f"no API key {key_id!r}")
        session.record("key.revoke", f"key:{key_id}", principal=record.spec.principal)
    Console().print(f"Revoked {key_id} ({record.spec.principal}); gateways stop accepting it within "
                    f"{session.config.auth.revocation_poll_s:g}s.")
