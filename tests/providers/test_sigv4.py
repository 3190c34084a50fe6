"""The SigV4 signer against AWS's published Signature Version 4 test suite (2015-08-30 vectors)."""

from __future__ import annotations

import pytest

from headway.providers._sigv4 import AwsCredentials, parse_authorization, sha256_hex, sign, signature

SUITE = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
DATE = "20150830T123600Z"
HOST = {"host": "example.amazonaws.com"}


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        # get-vanilla
        ("GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        # get-vanilla-query-order-key-case: parameters are sorted before signing
        (
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        # get-utf8: the path is percent-encoded as UTF-8
        ("GET", "https://example.amazonaws.com/ሴ", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        # post-vanilla
        ("POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ],
)
def test_published_vectors(method: str, url: str, expected: str) -> None:
    headers = sign(method=method, url=url, headers=HOST, body=b"", credentials=SUITE, region="us-east-1", service="service", amz_date=DATE)
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={expected}"
    )
    assert headers["x-amz-date"] == DATE


def test_a_session_token_is_sent_and_signed() -> None:
    creds = AwsCredentials("AKIDEXAMPLE", SUITE.secret_access_key, "session-token-1")
    headers = sign(method="POST", url="https://example.amazonaws.com/", headers=HOST, body=b"{}", credentials=creds, region="us-east-1", service="bedrock", amz_date=DATE)
    assert headers["x-amz-security-token"] == "session-token-1"
    parsed = parse_authorization(headers["authorization"])
    assert parsed is not None and parsed.signed_headers == ("host", "x-amz-date", "x-amz-security-token")


def test_bedrock_model_ids_are_signed_double_encoded() -> None:
    # Sent as %3A; signed as %253A (every service but S3 signs the encoded path encoded again).
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    common = {"headers": HOST, "payload_hash": sha256_hex(b""), "secret_access_key": "s", "region": "us-east-1", "service": "bedrock", "amz_date": DATE}
    _, double = signature(method="POST", url=url, **common)
    _, single = signature(method="POST", url=url.replace("%3A", ":"), **common)
    assert double != single


def test_anything_changed_changes_the_signature() -> None:
    base = {"method": "POST", "url": "https://example.amazonaws.com/x", "headers": HOST, "payload_hash": sha256_hex(b"a"), "secret_access_key": "s", "region": "us-east-1", "service": "bedrock", "amz_date": DATE}
    reference = signature(**base)[1]
    for change in (
        {"payload_hash": sha256_hex(b"b")},
        {"secret_access_key": "t"},
        {"region": "us-west-2"},
        {"amz_date": "20150830T123601Z"},
        {"url": "https://example.amazonaws.com/y"},
        {"headers": {"host": "other.amazonaws.com"}},
    ):
        assert signature(**{**base, **change})[1] != reference, change


def test_parse_authorization_refuses_other_schemes() -> None:
    assert parse_authorization("Bearer abc") is None
    assert parse_authorization("AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=1") is None
