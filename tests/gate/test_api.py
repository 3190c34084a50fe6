"""``/admin/gate/*``: stored reports and drills (idempotent uploads, validation in OpenAI's error shape), facts."""

from __future__ import annotations

import json
from typing import Any

from headway.gate.results import GateReport
from tests.gate.conftest import ADMIN_KEY, Production, Site, staging
from tests.http import post_json, request

AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}


def report_body(report_id: str, created_at: float, verdict: str = "pass") -> dict[str, Any]:
    return {
        "id": report_id, "created_at": created_at, "finished_at": created_at + 1, "target": "http://gw", "config_file": None,
        "profile": "strict", "verdict": verdict, "score": 1.0,
        "sections": [{"id": "security", "title": "Security and access", "score": 1, "max": 1, "minimum": 1, "passed": True}],
        "checks": [{"id": "security.auth", "section": "security", "title": "Auth", "required": True, "measures": "probes",
                    "score": 1, "status": "pass", "summary": "ok", "evidence": {"probes": 2}, "fix": None}],
    }


def test_reports_are_stored_once_listed_newest_first_and_read_back_whole(site: Site) -> None:
    with staging(site, ready=False) as (gateway, _):
        url = gateway.url + "/admin/gate/reports"
        first = post_json(url, report_body("gate_a", 1000.0, "fail"), AUTH)
        assert first.status == 201 and first.json() == {"id": "gate_a", "object": "gate.report", "stored": True}
        again = post_json(url, report_body("gate_a", 1000.0, "fail"), AUTH)
        assert again.status == 200 and again.json()["stored"] is False
        assert post_json(url, report_body("gate_b", 2000.0), AUTH).status == 201

        listed = request("GET", url, headers=AUTH).json()["data"]
        assert [(r["id"], r["verdict"], r["exit_code"], r["failing"]) for r in listed] == [("gate_b", "pass", 0, 0), ("gate_a", "fail", 2, 0)]
        assert [r["id"] for r in request("GET", url + "?before=2000&limit=1", headers=AUTH).json()["data"]] == ["gate_a"]
        whole = request("GET", url + "/gate_b", headers=AUTH).json()
        assert GateReport.from_dict(whole).checks[0].evidence == {"probes": 2}


def test_bad_uploads_and_queries_are_4xx_in_openais_shape(site: Site) -> None:
    with staging(site, ready=False) as (gateway, _):
        url = gateway.url + "/admin/gate/reports"
        cases = [
            post_json(url, {"id": "x"}, AUTH),
            post_json(url, {**report_body("gate_c", 1.0), "verdict": "great"}, AUTH),
            post_json(url, {**report_body("gate d/../e", 1.0)}, AUTH),
            post_json(url, {**report_body("gate_f", 1.0), "checks": ["not an object"]}, AUTH),
            post_json(url, {**report_body("gate_g", 1.0), "profile": "p" * 201}, AUTH),
            post_json(url, {**report_body("gate_h", 1.0), "notes": ["nul \u0000 inside"]}, AUTH),
            post_json(gateway.url + "/admin/gate/drills", {"id": "drill_x", "created_at": "yesterday"}, AUTH),
            request("POST", url, b"[1, 2]", {**AUTH, "content-type": "application/json"}),
            request("GET", url + "?limit=0", headers=AUTH),
            request("GET", url + "?before=soon", headers=AUTH),
            request("GET", gateway.url + "/admin/gate/drills?limit=x", headers=AUTH),
        ]
        for reply in cases:
            assert reply.status == 400, reply.body
            assert reply.json()["error"]["type"] == "invalid_request_error"
        missing = request("GET", url + "/gate_nope", headers=AUTH)
        assert missing.status == 404 and missing.json()["error"]["code"] == "report_not_found"
        assert request("GET", url).status == 401  # admin only


def test_drills_are_stored_and_listed(site: Site, production: Production) -> None:
    drills = request("GET", production.gateway.url + "/admin/gate/drills", headers=AUTH).json()["data"]
    latest = drills[0]
    with staging(site, ready=False) as (gateway, _):
        stored = post_json(gateway.url + "/admin/gate/drills", latest, AUTH)
        assert stored.status == 201
        listed = request("GET", gateway.url + "/admin/gate/drills?limit=5", headers=AUTH).json()["data"]
        assert json.dumps(listed[0], sort_keys=True) == json.dumps(latest, sort_keys=True)
