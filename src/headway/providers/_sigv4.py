"""AWS Signature Version 4 for one HTTP request, verified against AWS's published test suite.

A small signer rather than botocore (a large install, with the service models of every
AWS service, for the few dozen lines needed here); ``tests/providers/test_sigv4.py`` checks it against the
signatures in AWS's SigV4 test suite. The simulator verifies requests with the same
functions, recomputing the signature from what it received, so a wrong key, a tampered
body or a stale date is a 403 there as it is at AWS.

The path is signed the way AWS wants for every service but S3: the path as sent (already
percent-encoded) is encoded once more, so a Bedrock model id's ``:`` (sent as ``%3A``)
is signed as ``%253A``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"AwsCredentials(access_key_id={self.access_key_id!r}, ...)"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_path(path: str) -> str:
    return quote(path or "/", safe="/-_.~")


def canonical_query(query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    folded: dict[str, str] = {}
    for name, value in headers.items():
        folded[name.lower()] = " ".join(str(value).split())
    names = sorted(folded)
    return "".join(f"{name}:{folded[name]}\n" for name in names), ";".join(names)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_hash: str,
    secret_access_key: str,
    region: str,
    service: str,
    amz_date: str,
) -> tuple[str, str]:
    """``(signed header names, signature)`` of a request whose signed headers are ``headers``."""
    parts = urlsplit(url)
    canonical_headers, signed = _canonical_headers(headers)
    canonical = "\n".join(
        [method.upper(), canonical_path(parts.path), canonical_query(parts.query), canonical_headers, signed, payload_hash]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, sha256_hex(canonical.encode())])
    key = signing_key(secret_access_key, amz_date[:8], region, service)
    return signed, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str]:
    """``headers`` plus ``x-amz-date``, the session token if any, and ``Authorization``.

    Every header given is signed; ``host`` must be among them, exactly as it will be sent.
    """
    signed_headers = {**headers, "x-amz-date": amz_date}
    if credentials.session_token:
        signed_headers["x-amz-security-token"] = credentials.session_token
    names, sig = signature(
        method=method,
        url=url,
        headers=signed_headers,
        payload_hash=sha256_hex(body),
        secret_access_key=credentials.secret_access_key,
        region=region,
        service=service,
        amz_date=amz_date,
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    authorization = f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={names}, Signature={sig}"
    return {**signed_headers, "authorization": authorization}


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """The parts of a SigV4 ``Authorization`` header, or ``None`` if it is not one."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, _, field_value = item.strip().partition("=")
        fields[name] = field_value
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not fields.get("SignedHeaders") or not fields.get("Signature"):
        return None
    return ParsedAuthorization(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(fields["SignedHeaders"].split(";")),
        signature=fields["Signature"],
    )
