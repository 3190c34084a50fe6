"""Generate ``messy_customers.csv`` and its manifest of injected problems.

500 clean customer rows, then, each on its own row: missing emails, non-numeric ages
and lifetime values (mixed types), stale ``last_updated`` stamps, and 15 duplicate rows
appended at the end (10 exact copies, 5 reusing a customer id). The manifest lists the
data-row numbers (1 = first row after the header) of every injected row, by problem, so
tests can check that a profile finds them and its proposed contract quarantines exactly
them. Deterministic: run it again and the files are identical.

    python examples/data/make_messy_customers.py
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path

HERE = Path(__file__).parent
FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
]
LAST = [
    "Smith",
    "Okafor",
    "Tanaka",
    "Garcia",
    "Novak",
    "Haddad",
    "Larsen",
    "Silva",
    "Kim",
    "Weber",
    "Rossi",
    "Mensah",
]
COUNTRIES = ["DE", "FR", "GB", "NL", "US"]
PLANS = ["free", "pro", "enterprise"]
NOTES = ["prefers email", "annual billing", "VIP", "churn risk"]
COLUMNS = [
    "customer_id",
    "name",
    "email",
    "country",
    "plan",
    "age",
    "lifetime_value",
    "signup_date",
    "last_updated",
    "notes",
]


def clean_rows(rng: random.Random, count: int) -> list[dict[str, str]]:
    rows = []
    base = dt.datetime(2026, 1, 1)
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        signup = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 880))
        updated = base + dt.timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        rows.append(
            {
                "customer_id": f"CUS-{number:06d}",
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{number}@example.com",
                "country": rng.choice(COUNTRIES),
                "plan": rng.choice(PLANS),
                "age": str(rng.randint(18, 80)),
                "lifetime_value": f"{rng.uniform(0, 5000):.2f}",
                "signup_date": signup.isoformat(),
                "last_updated": updated.isoformat(timespec="seconds"),
                "notes": rng.choice(NOTES) if rng.random() < 0.3 else "",
            }
        )
    return rows


def main() -> None:
    rng = random.Random(20261125)
    rows = clean_rows(rng, 500)
    targets = rng.sample(range(len(rows)), 37)
    problems: dict[str, list[int]] = {
        "null_email": [],
        "mixed_type_age": [],
        "mixed_type_value": [],
        "stale": [],
        "duplicate_row": [],
        "duplicate_key": [],
    }
    for index in targets[:12]:
        rows[index]["email"] = ""
        problems["null_email"].append(index + 1)
    for index, word in zip(
        targets[12:20],
        ["unknown", "thirty", "n/a", "?", "forty-two", "unknown", "old", "twenty"],
        strict=True,
    ):
        rows[index]["age"] = word
        problems["mixed_type_age"].append(index + 1)
    for index in targets[20:25]:
        rows[index]["lifetime_value"] = "N/A"
        problems["mixed_type_value"].append(index + 1)
    for index in targets[25:37]:
        rows[index]["last_updated"] = (
            dt.datetime(2019, 3, 1) + dt.timedelta(days=rng.randrange(0, 400))
        ).isoformat(timespec="seconds")
        problems["stale"].append(index + 1)
    injected = set(targets)
    clean = [i for i in range(len(rows)) if i not in injected]
    for index in rng.sample(clean, 10):
        rows.append(dict(rows[index]))
        problems["duplicate_row"].append(len(rows))
    for index in rng.sample(clean, 5):
        copy = dict(rows[index])
        copy["email"] = copy["email"].replace("@", ".alt@")
        rows.append(copy)
        problems["duplicate_key"].append(len(rows))
    with (HERE / "messy_customers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    manifest = {
        "rows": len(rows),
        "problems": {k: sorted(v) for k, v in problems.items()},
        "injected_rows": sorted(n for v in problems.values() for n in v),
    }
    (HERE / "messy_customers.manifest.json").write_text(
        json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
