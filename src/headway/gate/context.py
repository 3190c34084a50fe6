"""Everything one gate run measures against: the config, the live deployment, stored runs.

Checks receive a ``GateContext`` and ask it for evidence; they never open connections
or read files themselves, so a test can hand a check exactly the evidence it wants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headway.config.models import HeadwayConfig
from headway.errors import HeadwayError
from headway.gate.evidence import Deployment, EvidenceUnavailable, Fetched
from headway.gate.profile import Profile
from headway.loadtest import LoadReport, latest_run

RECENT_LIMIT = 1000  # the request log API's largest page


@dataclass
class GateContext:
    profile: Profile
    config: HeadwayConfig | None = None
    raw_config: Any = None  # the YAML as written; None when the config came from the deployment
    config_file: str | None = None
    deployment: Deployment | None = None
    loadtest_dir: str | None = None  # overrides profile.load.runs_dir
    now: float = field(default_factory=time.time)
    _recent: list[dict[str, Any]] | None = None

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
            data = await self.api(f"/admin/requests?limit={RECENT_LIMIT}")
            since = self.now - self.profile.evidence.window_days * 86_400
            rows = data.get("data") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise EvidenceUnavailable("GET /admin/requests did not answer a list")
            self._recent = [r for r in rows if isinstance(r, dict) and float(r.get("created_at") or 0) >= since]
        return self._recent

    # -- stored load tests -------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return Path(self.loadtest_dir or self.profile.load.runs_dir)

    def latest_load_run(self) -> LoadReport | None:
        try:
            return latest_run(self.runs_dir)
        except (HeadwayError, OSError, ValueError, KeyError) as exc:
            raise EvidenceUnavailable(f"the latest load test in {self.runs_dir} cannot be read: {exc}") from None

    def age_days(self, epoch: float) -> float:
        return max(0.0, (self.now - epoch) / 86_400)
