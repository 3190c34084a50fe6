"""PII and secret detection: each kind found, checksums respected, ordinary text left alone."""

from __future__ import annotations

import pytest

from headway.guards.pii import Pseudonyms, Redactor, find_pii, luhn_valid, tfn_valid

SAMPLES = {
    "email": "jane.citizen@example.org",
    "phone": "+61 412 345 678",
    "payment_card": "4111 1111 1111 1111",
    "us_ssn": "123-45-6789",
    "au_tfn": "123 456 782",
    "uk_nino": "AB 12 34 56 C",
    "secret": "sk-proj-Abcdefghijklmnop1234567890",
}


@pytest.mark.parametrize(("kind", "value"), sorted(SAMPLES.items()))
def test_each_kind_is_found_and_redacted(kind: str, value: str) -> None:
    text = f"Please note: {value}, thanks."
    assert [f.kind for f in find_pii(text)] == [kind]
    redacted = Redactor().text(text)
    assert value not in redacted and f"[REDACTED:{kind}]" in redacted
    assert redacted.startswith("Please note: ") and redacted.endswith(", thanks.")


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "nino BG 12 34 56 C uses a reserved prefix",
        "order 12345 shipped on 2024-05-01 at 10:30, version 1.2.3",
        "the sk- prefix alone is not a key, nor is a short sk-abc",
    ],
)
def test_lookalikes_are_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_failed_checks_do_not_make_an_identifier() -> None:
    # Nine grouped digits still look like a phone number (recall first), but not like an SSN or TFN.
    assert "us_ssn" not in {f.kind for f in find_pii("ssn 000-12-3456 has an impossible area")}
    assert "au_tfn" not in {f.kind for f in find_pii("tfn 123 456 789 fails its checksum")}


def test_identifiers_with_digit_runs_stay_whole() -> None:
    # A hex request id can hold 9 digits that pass the TFN checksum (or 16 that pass Luhn);
    # redacting them broke the link from a review item or a classifier verdict to its record.
    redactor = Redactor()
    ids = {"request_id": "req_703782d123456782ae68367b", "hash": "ab4111111111111111cd", "run": "x_123-45-6789y"}
    assert redactor.value(ids) == ids
    for alone in ("tfn 123456782.", "card 4111111111111111", "ssn 123-45-6789"):
        assert "[REDACTED:" in redactor.text(alone), alone


def test_checksums() -> None:
    assert luhn_valid("4111-1111-1111-1111") and luhn_valid("5500 0000 0000 0004")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234")
    assert tfn_valid("123456782") and tfn_valid("876 543 210")
    assert not tfn_valid("111111111") and not tfn_valid("12345678")


@pytest.mark.parametrize(
    "secret",
    [
        "hw_live_ab12cd34EFGHijklMNOPqrstUVWXyz0123456789abcdefgh",
        "AKIAABCDEFGHIJKLMNOP",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "xoxb-1234567890-abcdefghij",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        "Bearer abcdefghijklmnopqrstuvwxyz0123",
        "api_key=q8Zr2LmN0pXy",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    ],
)
def test_credential_shapes_are_secrets(secret: str) -> None:
    redacted = Redactor().text(f"config: {secret} end")
    assert "[REDACTED:secret]" in redacted and secret not in redacted


def test_values_kinds_and_literals() -> None:
    redactor = Redactor(["email"], literals=["hunter2-but-longer", "short"])
    value = {"to": ["a@b.io", "plain"], "nested": {"pw": "hunter2-but-longer"}, "n": 3, "phone": "+61 412 345 678"}
    assert redactor.value(value) == {
        "to": ["[REDACTED:email]", "plain"],
        "nested": {"pw": "[REDACTED:secret]"},
        "n": 3,
        "phone": "+61 412 345 678",  # phone is not an enabled kind here
    }
    assert redactor.text("short stays") == "short stays"  # literals under 8 characters would redact words


def test_pseudonyms_are_stable_and_keyed() -> None:
    a, b = Pseudonyms(b"k1"), Pseudonyms(b"k2")
    assert a.of("ann@example.com") == a.of("ann@example.com") != b.of("ann@example.com")
    assert a.of("ann@example.com").startswith("psn_") and "ann" not in a.of("ann@example.com")
