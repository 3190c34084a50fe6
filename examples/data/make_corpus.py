"""Generate the retrieval corpus (``corpus/*.md``) and its held-out questions.

Thirty runbooks for fictional internal services, each with its own purpose, owners,
datastore, deploy window and failure modes, written in Markdown with sections so the
chunker has structure to follow. ``corpus_questions.jsonl`` (kept outside the corpus
folder so it is never indexed) holds questions phrased differently from the documents,
each naming the document that answers it. Deterministic.

    python examples/data/make_corpus.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

# name, purpose, team, datastore, port, deploy day, failure mode, remedy
SERVICES = [
    (
        "aurora",
        "renders invoice PDFs for customers",
        "billing",
        "PostgreSQL",
        7101,
        "Tuesday",
        "font cache corruption",
        "clear the font cache volume and restart the renderer pods",
    ),
    (
        "basalt",
        "stores uploaded profile photos",
        "media",
        "object storage",
        7102,
        "Monday",
        "thumbnail queue backlog",
        "scale the thumbnail workers to ten replicas",
    ),
    (
        "cinder",
        "sends password reset emails",
        "identity",
        "Redis",
        7103,
        "Wednesday",
        "SMTP relay throttling",
        "switch the relay to the secondary provider",
    ),
    (
        "dune",
        "calculates shipping rates for parcels",
        "logistics",
        "MySQL",
        7104,
        "Thursday",
        "carrier API timeouts",
        "enable the cached rate table fallback",
    ),
    (
        "ember",
        "detects fraudulent card payments",
        "risk",
        "Cassandra",
        7105,
        "Friday",
        "model drift alarms",
        "roll back to the previous scoring model",
    ),
    (
        "fjord",
        "translates product descriptions",
        "localization",
        "Elasticsearch",
        7106,
        "Monday",
        "glossary sync failures",
        "re-import the glossary from the translation vendor",
    ),
    (
        "garnet",
        "schedules warehouse pick lists",
        "fulfilment",
        "PostgreSQL",
        7107,
        "Tuesday",
        "deadlocks during wave planning",
        "lower the planner batch size to fifty orders",
    ),
    (
        "harbor",
        "issues API keys to partners",
        "platform",
        "Vault",
        7108,
        "Wednesday",
        "expired signing certificate",
        "rotate the intermediate certificate with the PKI runbook",
    ),
    (
        "iris",
        "recommends related articles to readers",
        "discovery",
        "Redis",
        7109,
        "Thursday",
        "empty recommendation lists",
        "rebuild the nearest neighbour index overnight",
    ),
    (
        "jasper",
        "exports payroll files to the bank",
        "finance",
        "SFTP share",
        7110,
        "Friday",
        "rejected payment batches",
        "regenerate the batch with the corrected IBAN checksum",
    ),
    (
        "kestrel",
        "tracks delivery drivers on the map",
        "logistics",
        "TimescaleDB",
        7111,
        "Monday",
        "GPS points arriving late",
        "restart the MQTT bridge and drain the buffer",
    ),
    (
        "lagoon",
        "hosts the public status page",
        "reliability",
        "static hosting",
        7112,
        "Tuesday",
        "stale incident banners",
        "purge the CDN cache for the status domain",
    ),
    (
        "magma",
        "compresses video uploads",
        "media",
        "object storage",
        7113,
        "Wednesday",
        "encoder out of memory",
        "move jobs to the large memory node pool",
    ),
    (
        "nimbus",
        "collects browser performance metrics",
        "observability",
        "ClickHouse",
        7114,
        "Thursday",
        "ingest lag over five minutes",
        "add a ClickHouse shard and rebalance partitions",
    ),
    (
        "onyx",
        "answers customer support chats with a bot",
        "support",
        "PostgreSQL",
        7115,
        "Friday",
        "bot handing every chat to humans",
        "reload the intent classifier thresholds",
    ),
    (
        "prism",
        "resizes images for the storefront",
        "storefront",
        "object storage",
        7116,
        "Monday",
        "blurry product images",
        "restore the sharpening filter setting to default",
    ),
    (
        "quartz",
        "manages feature flags",
        "platform",
        "etcd",
        7117,
        "Tuesday",
        "flags not propagating",
        "restart the flag relay sidecars",
    ),
    (
        "raven",
        "routes on-call pages to engineers",
        "reliability",
        "PostgreSQL",
        7118,
        "Wednesday",
        "duplicate pages",
        "deduplicate by incident key in the router config",
    ),
    (
        "sable",
        "applies discount codes at checkout",
        "checkout",
        "Redis",
        7119,
        "Thursday",
        "codes applied twice",
        "enable idempotency keys on the apply endpoint",
    ),
    (
        "tundra",
        "archives old orders to cold storage",
        "data",
        "Parquet on object storage",
        7120,
        "Friday",
        "archive job exceeding its window",
        "split the archive by month instead of by year",
    ),
    (
        "umber",
        "verifies customer identity documents",
        "identity",
        "PostgreSQL",
        7121,
        "Monday",
        "OCR failing on passports",
        "update the OCR model language pack",
    ),
    (
        "vortex",
        "streams order events to analytics",
        "data",
        "Kafka",
        7122,
        "Tuesday",
        "consumer group rebalancing storms",
        "raise the session timeout to forty-five seconds",
    ),
    (
        "willow",
        "sends push notifications to phones",
        "mobile",
        "Firebase",
        7123,
        "Wednesday",
        "notifications silently dropped",
        "renew the APNs authentication key",
    ),
    (
        "xenon",
        "computes sales tax for invoices",
        "billing",
        "PostgreSQL",
        7124,
        "Thursday",
        "wrong tax for new regions",
        "load the latest jurisdiction tables",
    ),
    (
        "yarrow",
        "moderates user reviews for abuse",
        "trust and safety",
        "Elasticsearch",
        7125,
        "Friday",
        "false positives on product names",
        "add the product catalogue to the allow list",
    ),
    (
        "zephyr",
        "balances traffic between data centres",
        "network",
        "Consul",
        7126,
        "Monday",
        "traffic pinned to one region",
        "reset the health check weights in Consul",
    ),
    (
        "alder",
        "generates monthly usage reports",
        "analytics",
        "BigQuery",
        7127,
        "Tuesday",
        "reports missing the last day",
        "rerun the aggregation after the late partition lands",
    ),
    (
        "birch",
        "signs mobile app builds",
        "mobile",
        "hardware security module",
        7128,
        "Wednesday",
        "signing requests rejected",
        "re-authorise the build server with the HSM partition",
    ),
    (
        "cedar",
        "maintains the product search index",
        "discovery",
        "OpenSearch",
        7129,
        "Thursday",
        "search returning deleted products",
        "run the tombstone compaction job",
    ),
    (
        "dahlia",
        "books appointments in physical stores",
        "retail",
        "PostgreSQL",
        7130,
        "Friday",
        "double booked time slots",
        "turn on row locking for the slot reservation table",
    ),
]


def document(
    name: str, purpose: str, team: str, store: str, port: int, day: str, failure: str, remedy: str
) -> str:
    title = name.capitalize()
    return f"""# {title}

{title} {purpose}. The {team} team owns it and answers its pages during business hours;
outside them the platform on-call engineer covers it.

## Architecture

{title} keeps its state in {store}. It listens on port {port} inside the cluster and
exposes a health endpoint at `/healthz` that checks the connection to {store}.

## Deployment

Routine releases of {title} go out on {day} mornings after the change review. A release
is rolled out to one zone first and promoted after thirty minutes without alerts.

## Known failure: {failure}

When {title} shows {failure}, the fix is to {remedy}. Record the incident in the
{team} team's log afterwards.
"""


QUESTIONS = [
    ("Which team is responsible for the invoice PDF renderer?", "aurora"),
    ("What should I do when the thumbnail queue backs up for profile photos?", "basalt"),
    ("Password reset emails are throttled by the SMTP relay, how do we fix it?", "cinder"),
    ("Where does the parcel shipping rate calculator store its data?", "dune"),
    ("How do we respond to model drift alarms in card fraud detection?", "ember"),
    ("Product description translation glossary sync is failing", "fjord"),
    ("Warehouse pick list wave planning hits deadlocks, what batch size to use?", "garnet"),
    ("The partner API key signing certificate expired", "harbor"),
    ("Readers get empty related article recommendations", "iris"),
    ("The bank rejected our payroll payment batch", "jasper"),
    ("Delivery driver GPS points arrive late on the map", "kestrel"),
    ("The public status page shows an old incident banner", "lagoon"),
    ("Video upload compression runs out of memory", "magma"),
    ("Browser performance metric ingest lags by more than five minutes", "nimbus"),
    ("The support chat bot hands every conversation to a human", "onyx"),
    ("Storefront product images look blurry after resizing", "prism"),
    ("Feature flag changes are not propagating", "quartz"),
    ("Engineers receive duplicate on-call pages", "raven"),
    ("Discount codes get applied twice at checkout", "sable"),
    ("The job archiving old orders to cold storage runs past its window", "tundra"),
    ("Passport OCR fails during identity document verification", "umber"),
    ("Kafka consumer group rebalancing storms in order event streaming", "vortex"),
    ("Phone push notifications are silently dropped", "willow"),
    ("Sales tax is wrong on invoices for newly added regions", "xenon"),
    ("Review moderation flags product names as abuse", "yarrow"),
    ("All traffic is pinned to a single data centre region", "zephyr"),
    ("Monthly usage reports are missing the last day", "alder"),
    ("Mobile app build signing requests are rejected by the HSM", "birch"),
    ("Product search returns products that were deleted", "cedar"),
    ("In-store appointment slots get double booked", "dahlia"),
    ("Which port does the fraud detection service listen on?", "ember"),
    ("On which day is the tax computation service deployed?", "xenon"),
    ("What datastore backs the feature flag manager?", "quartz"),
    ("Who owns push notifications for phones?", "willow"),
    ("Which service uses ClickHouse?", "nimbus"),
    ("What does the dahlia service do?", "dahlia"),
]


def main() -> None:
    folder = HERE / "corpus"
    folder.mkdir(exist_ok=True)
    for service in SERVICES:
        (folder / f"{service[0]}.md").write_text(document(*service), encoding="utf-8")
    with (HERE / "corpus_questions.jsonl").open("w", encoding="utf-8") as handle:
        for question, answer in QUESTIONS:
            handle.write(json.dumps({"question": question, "doc": f"{answer}.md"}) + "\n")


if __name__ == "__main__":
    main()
