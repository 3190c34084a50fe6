def test_debug(production) -> None:
    for name, rep in (("before", production.before), ("after", production.after)):
        print("=====", name, rep.verdict, rep.score)
        for c in rep.checks:
            if c.status != "pass":
                print(f"  {c.status:7} {c.id}: {c.summary[:400]}")
        for n in rep.notes:
            print("  note:", n[:300])
    for r in production.evals:
        print("eval", r.route, r.pass_rate, [(c.id, c.passed, c.error, [o for o in c.outcomes if not o['passed']]) for c in r.cases])
    assert False
