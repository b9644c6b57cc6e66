"""HTTP signatures: sign outgoing requests, verify incoming ones.

Outgoing requests are signed with draft-cavage (`Signature`, rsa-sha256 over
`(request-target) host date digest`), which every fediverse server reads; `sign_rfc9421`
makes the RFC 9421 form (`Signature-Input`, `Content-Digest`) for peers that ask for it.

Incoming requests may carry either. `verify_request` accepts a request only when:
- the signature verifies with the given public key (RSA PKCS#1 v1.5 SHA-256; `hs2019` is
  read as that for an RSA key, as Mastodon does; RFC 9421 also `rsa-pss-sha512` and
  `ed25519`);
- it covers the method and target (`(request-target)`, or `@method` and `@target-uri`), the
  host, the date (`date`, or RFC 9421's `created`) and, when there is a body, its digest;
- the date is at most `MAX_SKEW` (12 hours) away from now;
- the body matches the signed digest (`Digest: SHA-256=…`, or `Content-Digest`).
Anything else raises `SignatureError` (the inbox answers 401). Whether the key's owner may
speak for the activity is the caller's question (federation/inbox.py).

Header mappings passed in here have lower-case names.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import http_message_signatures as hms
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from http_message_signatures import algorithms

MAX_SKEW = timedelta(hours=12)
CAVAGE_HEADERS = ("(request-target)", "host", "date", "digest")
RFC9421_COMPONENTS = ("@method", "@target-uri", "content-digest")
_PARAM_RE = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*(?:,|$)')
RFC9421_ALGORITHMS: dict[str, type[hms.HTTPSignatureAlgorithm]] = {
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "ed25519": algorithms.ED25519,
}


class SignatureError(Exception):
    """A request whose signature is missing, malformed, stale or wrong."""


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose signature checked out: who signed it and how."""

    key_id: str
    scheme: str  # "cavage" or "rfc9421"


def http_date(when: datetime | None = None) -> str:
    """An IMF-fixdate (`Tue, 07 Jun 2014 20:51:35 GMT`)."""
    return format_datetime((when or datetime.now(UTC)).astimezone(UTC), usegmt=True)


def body_digest(body: bytes) -> str:
    """The draft-cavage `Digest` header value of a body."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def _target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts.netloc, path + (f"?{parts.query}" if parts.query else "")


PRIVATE_KEYS_KEPT = 256  # parsed private keys kept (`_private_key`): the signers in use


@functools.lru_cache(maxsize=PRIVATE_KEYS_KEPT)
def _private_key(pem: str) -> Any:
    """The private key in `pem`, parsed once for the last `PRIVATE_KEYS_KEPT` keys used:
    parsing an RSA key checks it, about 40 ms of CPU, which every signed request (each
    delivery of a post to each inbox) paid. Keyed by the PEM text itself, so a key is used
    only by a caller that holds it (read from the database for each request: a dropped key
    signs nothing)."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _public_key(pem: str) -> Any:
    try:
        return serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise SignatureError("The actor's public key cannot be read") from exc


# --- signing -----------------------------------------------------------------------------


def sign_cavage(
    method: str,
    url: str,
    body: bytes | None,
    *,
    key_id: str,
    private_pem: str,
    now: datetime | None = None,
    covered: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers that sign a request with draft-cavage: Host, Date, Digest (with a body)
    and Signature, and the `covered` headers (lower-case names), signed too."""
    host, target = _target(url)
    headers = {"host": host, "date": http_date(now)}
    names = ["(request-target)", "host", "date"]
    if body is not None:
        headers["digest"] = body_digest(body)
        names.append("digest")
    headers.update(covered or {})
    names += list(covered or {})
    lines = _signing_string(names, method, target, headers, {})
    signature = _private_key(private_pem).sign(lines.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return {_title(k): v for k, v in headers.items()}


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


@dataclass(slots=True)
class _Message:
    """The request shape http-message-signatures reads: method, url, headers."""

    method: str
    url: str
    headers: dict[str, str]


class _Keys(hms.HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, public: Any = None, private: Any = None) -> None:
        self.key_id, self.public, self.private = key_id, public, private

    def resolve_public_key(self, key_id: str) -> Any:
        return self.public if key_id == self.key_id else None

    def resolve_private_key(self, key_id: str) -> Any:
        return self.private


def sign_rfc9421(
    method: str,
    url: str,
    body: bytes | None,
    *,
    key_id: str,
    private_pem: str,
    now: datetime | None = None,
    covered: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers that sign a request with RFC 9421 (rsa-v1_5-sha256 over `@method`,
    `@target-uri`, with a body `content-digest`, and the `covered` headers, lower-case names):
    Content-Digest, Signature-Input, Signature and the covered headers."""
    message = _Message(method.upper(), url, dict(covered or {}))
    signer = hms.HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=_Keys(key_id, private=_private_key(private_pem)),
    )
    signer.sign(
        message,
        key_id=key_id,
        created=now or datetime.now(UTC),
        covered_component_ids=("@method", "@target-uri", *(covered or {})),
        body=body,
        label="sig1",
    )
    return dict(message.headers)


# --- verification ------------------------------------------------------------------------


def signing_key_id(headers: Mapping[str, str]) -> str | None:
    """The key id a request says it is signed with (either scheme), or None when unsigned."""
    if "signature-input" in headers:
        found = re.search(r';\s*keyid="([^"]+)"', headers["signature-input"])
        return found.group(1) if found else None
    if "signature" in headers:
        return header_params(headers["signature"]).get("keyid")
    return None


def signature_covers(headers: Mapping[str, str], name: str) -> bool:
    """Whether a request's signature covers the header `name` (lower-case): so, once
    `verify_request` accepted it, its value is the signer's."""
    if "signature-input" in headers:
        return f'"{name}"' in headers["signature-input"].lower()
    if "signature" in headers:
        return name in header_params(headers["signature"]).get("headers", "date").lower().split()
    return False


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    public_pem: str,
    *,
    now: datetime | None = None,
) -> Verified:
    """Check a request's signature (RFC 9421 when it has `Signature-Input`, else
    draft-cavage) against `public_pem`, with the rules in the module docstring."""
    now = now or datetime.now(UTC)
    if "signature-input" in headers:
        return verify_rfc9421(method, url, headers, body, public_pem, now=now)
    if "signature" in headers:
        return verify_cavage(method, url, headers, body, public_pem, now=now)
    raise SignatureError("Request not signed")


def header_params(value: str) -> dict[str, str]:
    """The `name="value"` parameters of a draft-cavage `Signature` header (and of the
    headers that borrow its syntax: FEP-8fcf's `Collection-Synchronization`), by lower-case
    name."""
    params: dict[str, str] = {}
    for match in _PARAM_RE.finditer(value):
        params[match.group(1).lower()] = (
            match.group(2) if match.group(2) is not None else match.group(3)
        )
    return params


def _signing_string(
    names: Sequence[str],
    method: str,
    target: str,
    headers: Mapping[str, str],
    params: Mapping[str, str],
) -> str:
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in ("(created)", "(expires)"):
            value = params.get(name[1:-1])
            if value is None:
                raise SignatureError(f"The signature covers {name} but does not give it")
            lines.append(f"{name}: {value}")
        else:
            if name not in headers:
                raise SignatureError(f"The signed header {name} is missing")
            lines.append(f"{name}: {headers[name]}")
    return "\n".join(lines)


def _check_time(when: datetime, now: datetime, what: str) -> None:
    if abs(now - when) > MAX_SKEW:
        raise SignatureError(f"The request's {what} is more than 12 hours away from now")


def _check_date_header(headers: Mapping[str, str], now: datetime) -> None:
    try:
        when = parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SignatureError("The request has no valid Date header") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    _check_time(when, now, "Date")


def verify_cavage(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    public_pem: str,
    *,
    now: datetime,
    required: Sequence[str] = ("(request-target)", "host"),
) -> Verified:
    """Check a draft-cavage `Signature` header (see the module docstring). `required` are
    the components it must cover besides the date and, with a body, the digest."""
    params = header_params(headers["signature"])
    key_id, signature = params.get("keyid"), params.get("signature")
    if not key_id or not signature:
        raise SignatureError("The Signature header lacks keyId or signature")
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in ("rsa-sha256", "hs2019"):
        raise SignatureError(f"Unsupported signature algorithm {algorithm}")
    names = params.get("headers", "date").lower().split()
    missing = [n for n in required if n not in names]
    if "date" not in names and "(created)" not in names:
        missing.append("date")
    if body and "digest" not in names:
        missing.append("digest")
    if missing:
        raise SignatureError(f"The signature does not cover {', '.join(missing)}")
    if "date" in names:
        _check_date_header(headers, now)
    else:
        _check_time(datetime.fromtimestamp(int(params.get("created", "0")), UTC), now, "created")
    if "digest" in names:
        _check_digest(headers.get("digest", ""), body)
    _, target = _target(url)
    text = _signing_string(names, method, target, headers, params)
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError as exc:
        raise SignatureError("The signature is not base64") from exc
    key = _public_key(public_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("Only RSA keys are supported for draft-cavage signatures")
    try:
        key.verify(raw, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise SignatureError("The signature does not verify") from exc
    return Verified(key_id, "cavage")


def _check_digest(value: str, body: bytes) -> None:
    """`Digest: SHA-256=…` (other algorithms in the list are ignored; one must be SHA-256)."""
    for part in value.split(","):
        algorithm, _, encoded = part.strip().partition("=")
        if algorithm.lower() == "sha-256":
            expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if hmac.compare_digest(encoded.strip(), expected):
                return
            raise SignatureError("The body does not match its digest")
    raise SignatureError("The request has no SHA-256 digest")


def verify_rfc9421(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    public_pem: str,
    *,
    now: datetime,
    required: Sequence[str] = ("@method", "@target-uri"),
) -> Verified:
    """Check an RFC 9421 signature (one signature; see the module docstring). `required`
    are the components it must cover besides, with a body, `content-digest`."""
    key_id = signing_key_id(headers)
    if not key_id:
        raise SignatureError("The signature has no keyid")
    key = _public_key(public_pem)
    alg = re.search(r';\s*alg="([^"]+)"', headers["signature-input"])
    if alg:
        algorithm = RFC9421_ALGORITHMS.get(alg.group(1))
        if algorithm is None:
            raise SignatureError(f"Unsupported signature algorithm {alg.group(1)}")
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = algorithms.ED25519
    else:
        algorithm = algorithms.RSA_V1_5_SHA256
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=algorithm, key_resolver=_Keys(key_id, public=key)
    )
    message = _Message(method.upper(), url, dict(headers))
    try:
        results = verifier.verify(
            message, max_age=None, require_components=required, body=body if body else None
        )
    except hms.HTTPMessageSignaturesException as exc:
        raise SignatureError(f"The signature does not verify: {exc}") from exc
    created = results[0].parameters.get("created")
    if not isinstance(created, int):
        raise SignatureError("The signature has no created time")
    _check_time(datetime.fromtimestamp(created, UTC), now, "signature time")
    return Verified(key_id, "rfc9421")
