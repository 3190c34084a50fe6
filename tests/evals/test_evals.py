"""``headway eval``: sets are parsed strictly, answers judged on every kind of expectation, runs compared and stored.

The judged answers come from the session simulator (an OpenAI-compatible server), which
also stands in as the judge model: its JSON-schema answers are deterministic.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headway.cli.main import app
from headway.errors import ConfigError
from headway.evals import Answer, EvalCase, EvalOptions, EvalRun, judge_answer, load_set, run_eval, saved_runs
from headway.evals.base import Verdict
from headway.testing import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "headway" / "examples" / "evals"


def write(tmp_path: Path, name: str, *cases: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return path


class FixedJudge:
    name = "fixed"

    def __init__(self, score: float | None) -> None:
        self.value = score
        self.asked: list[str] = []

    async def score(self, *, question: str, answer: str, rubric: str) -> Verdict:
        self.asked.append(rubric)
        return Verdict(self.value, "fixed")


def case(**expect: Any) -> EvalCase:
    return EvalCase.model_validate({"id": "c", "input": "q", "expect": expect})


@pytest.mark.parametrize(
    ("expect", "answer", "passed"),
    [
        ({"exact": "42"}, Answer(" 42 ", []), True),
        ({"exact": "42"}, Answer("43", []), False),
        ({"contains": ["Refund", "days"]}, Answer("refunds take five days", []), True),
        ({"contains": "weeks"}, Answer("refunds take five days", []), False),
        ({"regex": r"\d+ days"}, Answer("in 5 days", []), True),
        ({"regex": r"^no"}, Answer("in 5 days", []), False),
        ({"json_schema": {"type": "object", "required": ["a"]}}, Answer('{"a": 1}', []), True),
        ({"json_schema": {"type": "object", "required": ["a"]}}, Answer('{"b": 1}', []), False),
        ({"json_schema": {"type": "object"}}, Answer("not json", []), False),
        ({"tool_call": "lookup"}, Answer("", [{"function": {"name": "lookup"}}]), True),
        ({"tool_call": "lookup"}, Answer("", [{"function": {"name": "other"}}]), False),
        ({"tool_call": True}, Answer("plain text", []), False),
    ],
)
def test_each_kind_of_expectation_passes_and_fails(expect: dict[str, Any], answer: Answer, passed: bool) -> None:
    outcomes = asyncio.run(judge_answer(case(**expect), answer, None))
    assert len(outcomes) == 1 and outcomes[0].passed is passed, outcomes


def test_a_rubric_passes_at_its_minimum_score_and_needs_a_judge() -> None:
    rubric = case(rubric="Says five days", min_score=0.7)
    assert asyncio.run(judge_answer(rubric, Answer("x", []), FixedJudge(0.7)))[0].passed
    assert not asyncio.run(judge_answer(rubric, Answer("x", []), FixedJudge(0.69)))[0].passed
    assert not asyncio.run(judge_answer(rubric, Answer("x", []), FixedJudge(None)))[0].passed  # the judge could not score
    no_judge = asyncio.run(judge_answer(rubric, Answer("x", []), None))[0]
    assert not no_judge.passed and "--judge" in no_judge.detail


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"id": "a", "input": "q", "expect": {"contains": "x"}}\nnot json\n', "line 2: not JSON"),
        ('{"id": "a", "input": "q", "expect": {}}\n', "line 1: case 'a' expects nothing"),
        ('{"id": "a", "input": "q", "expect": {"contain": "x"}}\n', "line 1: expect.contain"),
        ('{"id": "a", "input": "q", "expect": {"exact": "x"}}\n{"id": "a", "input": "r", "expect": {"exact": "y"}}\n', "appears twice"),
        ("\n\n", "has no cases"),
    ],
)
def test_a_malformed_set_is_refused_with_the_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_set(path)


def test_the_example_sets_parse() -> None:
    assert [c.id for c in load_set(EXAMPLES / "chat.jsonl").cases][:1] == ["answers-the-user"]
    assert load_set(EXAMPLES / "decisions.jsonl").cases


def options(sim: Any, eval_set: Path, runs_dir: Path, **extra: Any) -> EvalOptions:
    return EvalOptions(url=sim.url, api_key="sk-sim", route="gpt-4o-mini", eval_set=load_set(eval_set), runs_dir=runs_dir, **extra)


def test_a_run_against_a_live_route_is_judged_stored_and_compared(sim: Any, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    first = write(
        tmp_path, "support",
        {"id": "echo", "input": "Where is my parcel?", "expect": {"contains": "reply to: Where is my parcel"}},
        {"id": "json", "input": "as json", "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}},
         "expect": {"json_schema": {"type": "object", "required": ["n"]}}},
        {"id": "tool", "input": "look up 42", "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
         "tool_choice": {"type": "function", "function": {"name": "lookup"}}, "expect": {"tool_call": "lookup"}},
        {"id": "graded", "input": "thanks", "expect": {"rubric": "polite", "min_score": 0}},
    )
    run, path = asyncio.run(run_eval(options(sim, first, runs_dir, judge_route="gpt-4o-mini", binding={"fingerprint": "sha256:x", "target": sim.url, "routes": ["gpt-4o-mini"], "at": 1.0})))
    assert [(c.id, c.passed) for c in run.cases] == [("echo", True), ("json", True), ("tool", True), ("graded", True)], run.cases
    graded = run.cases[3].outcomes[0]
    assert graded["expectation"] == "rubric" and graded["score"] is not None and 0 <= graded["score"] <= 1  # the simulator judged
    assert run.passed and run.previous is None and path is not None and path.exists()
    assert json.loads(path.read_text())["binding"]["fingerprint"] == "sha256:x"

    # The same set, one case that passed now failing: a regression, whatever the threshold.
    lines = first.read_text().splitlines()
    changed = json.loads(lines[0])
    changed["expect"] = {"contains": "a phrase the simulator never says"}
    first.write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
    again, _ = asyncio.run(run_eval(options(sim, first, runs_dir, judge_route="gpt-4o-mini", min_pass_rate=0.5)))
    assert again.pass_rate == 0.75 and again.regressed == ["echo"] and not again.passed
    assert again.previous is not None and again.previous["id"] == run.id and again.previous["same_set"] is False
    stored = saved_runs(runs_dir, "support")
    assert [r.id for _, r in stored] == [again.id, run.id]
    assert EvalRun.from_dict(again.to_dict()).regressed == ["echo"]


def test_an_unreachable_route_fails_every_case_with_the_reason(tmp_path: Path) -> None:
    eval_set = write(tmp_path, "down", {"id": "a", "input": "q", "expect": {"contains": "x"}})
    unreachable = EvalOptions(url=f"http://127.0.0.1:{free_port()}", api_key=None, route="m", eval_set=load_set(eval_set), runs_dir=tmp_path)
    run, _ = asyncio.run(run_eval(unreachable))
    assert not run.passed and run.cases[0].error is not None and "the gateway is unreachable" in run.cases[0].error


def test_the_command_exits_0_when_it_passes_2_when_it_fails_3_when_it_cannot_run(sim: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    good = write(tmp_path, "good", {"id": "a", "input": "hello there", "expect": {"contains": "reply to: hello there"}})
    bad = write(tmp_path, "bad", {"id": "a", "input": "hello there", "expect": {"exact": "something else"}})
    common = ["--route", "gpt-4o-mini", "--url", sim.url, "--api-key", "sk-sim", "--runs-dir", str(tmp_path / "runs")]
    passed = runner.invoke(app, ["eval", str(good), *common])
    assert passed.exit_code == 0, passed.output
    assert "not bound to a config" in passed.output  # without --config the gate will not count it
    failed = runner.invoke(app, ["eval", str(bad), *common, "--format", "json"])
    assert failed.exit_code == 2 and json.loads(failed.stdout)["passed"] is False
    missing = runner.invoke(app, ["eval", str(tmp_path / "nope.jsonl"), *common])
    assert missing.exit_code == 3 and "cannot read the evaluation set" in missing.output
