"""HTTP signatures (federation/signatures.py) against the specifications' own examples
(draft-cavage-http-signatures Appendix C, RFC 9421 Appendix B.2.6) and the rules Agora adds:
a 12-hour Date window, a body covered by its digest, the covered components."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from agora.federation.keys import generate_key_pair
from agora.federation.signatures import (
    SignatureError,
    sign_cavage,
    sign_rfc9421,
    verify_cavage,
    verify_request,
    verify_rfc9421,
)

# draft-cavage-http-signatures-12, Appendix C: the test key and request
CAVAGE_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
"""
CAVAGE_URL = "https://example.com/foo?param=value&pet=dog"
CAVAGE_BODY = b'{"hello": "world"}'
CAVAGE_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)
CAVAGE_HEADERS = {
    "host": "example.com",
    "date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "content-type": "application/json",
    "digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "content-length": "18",
}
CAVAGE_C2 = (
    'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
    'signature="qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn'
    "7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
    '"'
)
CAVAGE_C3 = (
    'keyId="Test",algorithm="rsa-sha256",'
    'headers="(request-target) host date content-type digest content-length",'
    'signature="vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKB'
    'IvB1q52LaEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="'
)

# RFC 9421, Appendix B.1.4 (test-key-ed25519) and B.2.6 (signing a request using ed25519)
RFC_ED25519_PUBLIC = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
RFC_URL = "https://example.com/foo?param=Value&Pet=dog"
RFC_NOW = datetime.fromtimestamp(1618884473, UTC)
RFC_B26 = {
    "host": "example.com",
    "date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-length": "18",
    "signature-input": 'sig-b26=("date" "@method" "@path" "@authority" "content-type" '
    '"content-length");created=1618884473;keyid="test-key-ed25519"',
    "signature": "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w"
    "6vuQv5lIp5WPpBKRCw==:",
}
B26_COVERS = ("@method", "@path", "@authority", "date")


def _cavage(signature: str) -> dict[str, str]:
    return {**CAVAGE_HEADERS, "signature": signature}


def test_cavage_all_headers_example_verifies() -> None:
    verified = verify_cavage(
        "POST", CAVAGE_URL, _cavage(CAVAGE_C3), CAVAGE_BODY, CAVAGE_PUBLIC, now=CAVAGE_NOW
    )
    assert (verified.key_id, verified.scheme) == ("Test", "cavage")


def test_cavage_basic_example_verifies_only_without_a_body() -> None:
    """C.2 signs (request-target) host date: fine for a bodiless request; with a body, the
    body is not covered by the signature, so it is refused."""
    assert verify_cavage("POST", CAVAGE_URL, _cavage(CAVAGE_C2), b"", CAVAGE_PUBLIC, now=CAVAGE_NOW)
    with pytest.raises(SignatureError, match="does not cover digest"):
        verify_cavage(
            "POST", CAVAGE_URL, _cavage(CAVAGE_C2), CAVAGE_BODY, CAVAGE_PUBLIC, now=CAVAGE_NOW
        )


def test_cavage_example_refused_when_anything_changes() -> None:
    headers = _cavage(CAVAGE_C3)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cavage("POST", CAVAGE_URL + "x", headers, CAVAGE_BODY, CAVAGE_PUBLIC, now=CAVAGE_NOW)
    with pytest.raises(SignatureError, match="does not match its digest"):
        verify_cavage(
            "POST", CAVAGE_URL, headers, b'{"hello": "wOrld"}', CAVAGE_PUBLIC, now=CAVAGE_NOW
        )
    with pytest.raises(SignatureError, match="more than 12 hours"):
        late = CAVAGE_NOW + timedelta(hours=12, seconds=1)
        verify_cavage("POST", CAVAGE_URL, headers, CAVAGE_BODY, CAVAGE_PUBLIC, now=late)
    # 12 hours is still within the window, both ways
    for skew in (timedelta(hours=12), -timedelta(hours=12)):
        assert verify_cavage(
            "POST", CAVAGE_URL, headers, CAVAGE_BODY, CAVAGE_PUBLIC, now=CAVAGE_NOW + skew
        )


def test_rfc9421_ed25519_example_verifies() -> None:
    verified = verify_rfc9421(
        "POST", RFC_URL, RFC_B26, b"", RFC_ED25519_PUBLIC, now=RFC_NOW, required=B26_COVERS
    )
    assert (verified.key_id, verified.scheme) == ("test-key-ed25519", "rfc9421")


def test_rfc9421_example_refused_with_an_unsigned_body_or_a_stale_time() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(SignatureError, match="Content-Digest"):
        verify_rfc9421(
            "POST", RFC_URL, RFC_B26, body, RFC_ED25519_PUBLIC, now=RFC_NOW, required=B26_COVERS
        )
    with pytest.raises(SignatureError, match="more than 12 hours"):
        verify_rfc9421(
            "POST",
            RFC_URL,
            RFC_B26,
            b"",
            RFC_ED25519_PUBLIC,
            now=RFC_NOW + timedelta(hours=13),
            required=B26_COVERS,
        )
    with pytest.raises(SignatureError, match="not covered"):  # Agora's policy: target URI
        verify_rfc9421("POST", RFC_URL, RFC_B26, b"", RFC_ED25519_PUBLIC, now=RFC_NOW)


@pytest.fixture(scope="module")
def key():  # type: ignore[no-untyped-def]
    return generate_key_pair()


@pytest.mark.parametrize("sign", [sign_cavage, sign_rfc9421])
def test_our_signatures_verify_and_changes_are_refused(sign, key) -> None:  # type: ignore[no-untyped-def]
    url = "https://agora.example/users/bob/inbox"
    body = json.dumps({"type": "Create"}).encode()
    headers = {
        k.lower(): v
        for k, v in sign("POST", url, body, key_id="k", private_pem=key.private_pem).items()
    }
    assert verify_request("POST", url, headers, body, key.public_pem).key_id == "k"
    with pytest.raises(SignatureError):
        verify_request("POST", url, headers, body + b" ", key.public_pem)
    with pytest.raises(SignatureError):
        verify_request("POST", url.replace("bob", "eve"), headers, body, key.public_pem)
    with pytest.raises(SignatureError):
        verify_request("POST", url, headers, body, generate_key_pair().public_pem)
    with pytest.raises(SignatureError, match="more than 12 hours"):
        later = datetime.now(UTC) + timedelta(hours=13)
        verify_request("POST", url, headers, body, key.public_pem, now=later)


def test_unsigned_request_refused(key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureError, match="not signed"):
        verify_request("POST", "https://a.example/inbox", {}, b"{}", key.public_pem)


def test_generated_keys_are_rsa_2048(key) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(key.public_pem.encode())
    assert public.key_size == 2048  # type: ignore[union-attr]


def test_a_private_key_is_parsed_once_and_each_pem_signs_with_its_own_key(
    key,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agora.federation import signatures

    parsed: list[str] = []
    load = signatures.serialization.load_pem_private_key

    def counted(data: bytes, password: bytes | None) -> object:
        parsed.append(data.decode())
        return load(data, password)

    monkeypatch.setattr(signatures.serialization, "load_pem_private_key", counted)
    signatures._private_key.cache_clear()
    other = generate_key_pair()
    url, body = "https://agora.example/inbox", b"{}"
    for pair in (key, key, other, key):
        headers = {
            k.lower(): v
            for k, v in sign_cavage(
                "POST", url, body, key_id="k", private_pem=pair.private_pem
            ).items()
        }
        assert verify_request("POST", url, headers, body, pair.public_pem)
        wrong = other if pair is key else key
        with pytest.raises(SignatureError):
            verify_request("POST", url, headers, body, wrong.public_pem)
    assert parsed == [key.private_pem, other.private_pem]
