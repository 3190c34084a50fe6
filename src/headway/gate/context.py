"""Everything one gate run measures against: the config, the live deployment, stored runs.

Checks receive a ``GateContext`` and ask it for evidence; they never open connections
or read files themselves, so a test can hand a check exactly the evidence it wants.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from headway.config import HeadwayConfig, RouteReadiness, config_fingerprint
from headway.errors import ConfigError, HeadwayError
from headway.gate.binding import Binding, rejections
from headway.gate.config_source import live_config
from headway.gate.drill import DrillRecord
from headway.gate.evidence import Deployment, EvidenceUnavailable, Fetched
from headway.gate.profile import Profile
from headway.loadtest import LoadReport

RECENT_LIMIT = 1000  # the request log API's largest page
WINDOW_PAGES = 20  # pages read for one time window (a load run): 20,000 records


@dataclass
class GateContext:
    profile: Profile
    config: HeadwayConfig | None = None
    raw_config: Any = None  # the YAML as written; None when the config came from the deployment
    config_file: str | None = None
    deployment: Deployment | None = None
    loadtest_dir: str | None = None  # overrides profile.load.runs_dir
    evals_dir: str | None = None  # overrides profile.quality.runs_dir
    now: float = field(default_factory=time.time)
    _recent: list[dict[str, Any]] | None = None
    _live: HeadwayConfig | None = None

    # -- what evidence must be bound to ------------------------------------------------------
    @property
    def fingerprint(self) -> str | None:
        return config_fingerprint(self.config) if self.config is not None else None

    @property
    def target(self) -> str | None:
        return self.deployment.url if self.deployment is not None else None

    def rejections(self, binding: Binding | None, max_age_days: float, routes: Iterable[str] = ()) -> list[str]:
        """Why a piece of evidence cannot count here (empty: it counts)."""
        return rejections(binding, fingerprint=self.fingerprint, target=self.target, now=self.now, max_age_days=max_age_days, routes=routes)

    def declared(self) -> dict[str, RouteReadiness]:
        """The routes the config declares (``readiness.routes``)."""
        return dict(self.need_config().readiness.routes)

    def waiver(self, check_id: str) -> dict[str, str] | None:
        """The config's waiver of this check or its section, as {reason, owner}."""
        if self.config is None:
            return None
        section = check_id.split(".")[0]
        for waiver in self.config.readiness.waivers:
            if waiver.check in (check_id, section):
                return {"waived": waiver.check, "reason": waiver.reason, "owner": waiver.owner}
        return None

    async def running_config(self) -> HeadwayConfig | None:
        """The config the running process reports (GET /admin/gate/facts), or None when it cannot be read."""
        if self._live is None and self.deployment is not None:
            try:
                self._live = live_config((await self.facts()).get("config"))
            except (EvidenceUnavailable, ConfigError):
                return None
        return self._live

    # -- the config ------------------------------------------------------------------------
    def need_config(self) -> HeadwayConfig:
        if self.config is None:
            raise EvidenceUnavailable("no config: pass --config FILE (or a --url whose /admin/gate/facts answers)")
        return self.config

    def need_raw_config(self) -> Any:
        if self.raw_config is None:
            raise EvidenceUnavailable("the config file as written is needed: pass --config FILE")
        return self.raw_config

    # -- the live deployment ---------------------------------------------------------------
    def need_deployment(self) -> Deployment:
        if self.deployment is None:
            raise EvidenceUnavailable("no running deployment to measure: pass --url (or a config with server.host/port)")
        return self.deployment

    async def fetch(self, path: str, *, authenticated: bool = True) -> Fetched:
        return await self.need_deployment().get(path, authenticated=authenticated)

    async def api(self, path: str) -> Any:
        return await self.need_deployment().json(path)

    async def facts(self) -> dict[str, Any]:
        """What the running process says about itself (``GET /admin/gate/facts``)."""
        data = await self.api("/admin/gate/facts")
        if not isinstance(data, dict):
            raise EvidenceUnavailable("GET /admin/gate/facts did not answer an object")
        return data

    async def recent_requests(self) -> list[dict[str, Any]]:
        """Request records of the evidence window, newest first (at most ``RECENT_LIMIT``)."""
        if self._recent is None:
            rows, _ = await self._requests_page(f"limit={RECENT_LIMIT}")
            since = self.now - self.profile.evidence.window_days * 86_400
            self._recent = [r for r in rows if float(r.get("created_at") or 0) >= since]
        return self._recent

    async def _requests_page(self, query: str) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /admin/requests?{query}``: its records, and the cursor of the next page (None: last)."""
        data = await self.api(f"/admin/requests?{query}")
        page = data.get("data") if isinstance(data, dict) else None
        if not isinstance(page, list):
            raise EvidenceUnavailable("GET /admin/requests did not answer a list")
        cursor = data.get("next_cursor") if data.get("has_more") else None
        return [r for r in page if isinstance(r, dict)], str(cursor) if cursor else None

    async def requests_between(self, model: str | None, since: float, until: float) -> tuple[list[dict[str, Any]], bool]:
        """Every request record of ``model`` made in ``[since, until)``, page by page, up to
        ``WINDOW_PAGES`` pages; and whether that was all of them. A run's own records, however
        much traffic came after it (the newest page alone missed a run's older records)."""
        query = urlencode({"since": f"{since:.6f}", "until": f"{until:.6f}", "limit": RECENT_LIMIT, **({"model": model} if model else {})})
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(WINDOW_PAGES):
            page, cursor = await self._requests_page(query + (f"&{urlencode({'cursor': cursor})}" if cursor else ""))
            rows.extend(page)
            if cursor is None:
                return rows, True
        return rows, False

    # -- the drill ---------------------------------------------------------------------------
    async def latest_drill(self) -> tuple[DrillRecord | None, list[str]]:
        """The newest stored drill and why it cannot count here (empty: it counts)."""
        fetched = await self.fetch("/admin/gate/drills?limit=1")
        if not fetched.ok:
            raise EvidenceUnavailable(f"fault drills cannot be read ({fetched.describe()})")
        rows = fetched.json().get("data") or []
        if not rows:
            return None, ["no drill on record"]
        record = DrillRecord.from_dict(rows[0])
        return record, self.rejections(Binding.from_dict(record.binding), self.profile.drill.max_age_days)

    async def drilled(self, step: str) -> tuple[bool, str, dict[str, Any]]:
        """Whether the current drill's ``step`` passed: (ok, why not, evidence)."""
        try:
            record, why = await self.latest_drill()
        except EvidenceUnavailable as exc:
            return False, str(exc), {}
        if record is None or why:
            return False, "; ".join(why), {"drill": record.id if record else None}
        found = record.step(step)
        evidence: dict[str, Any] = {"drill": record.id, "drilled_at": record.finished_at, "step": step}
        if found is None:
            return False, f"the drill {record.id} has no {step} step", evidence
        evidence["observed"] = found.observed
        if found.passed is not True:
            return False, f"the drill's {step} step failed: {found.detail or 'see its evidence'}", evidence
        return True, "", evidence

    # -- stored load tests -------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return Path(self.loadtest_dir or self.profile.load.runs_dir)

    def load_runs(self, limit: int = 20) -> list[tuple[Path, LoadReport]]:
        """The newest saved load tests (``headway load`` and the drill), newest first."""
        folder = self.runs_dir
        if not folder.is_dir():
            return []
        paths = sorted(folder.glob("loadtest-*.json"), reverse=True)[:limit]
        runs = []
        for path in paths:
            try:
                runs.append((path, LoadReport.from_dict(orjson.loads(path.read_bytes()))))
            except (HeadwayError, OSError, ValueError, KeyError) as exc:
                raise EvidenceUnavailable(f"the load test {path} cannot be read: {exc}") from None
        return runs

    @property
    def evals_root(self) -> Path:
        return Path(self.evals_dir or self.profile.quality.runs_dir)

    def age_days(self, epoch: float) -> float:
        return max(0.0, (self.now - epoch) / 86_400)
