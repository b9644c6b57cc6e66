"""Settings: AGORA_* variables win over the TOML config file, which wins over defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agora.config import Settings, get_settings, use_listening_address


def test_config_file_and_environment(tmp_path, monkeypatch):
    config = tmp_path / "agora.toml"
    config.write_text('instance_title = "From file"\nregistrations = "approval"\n')
    monkeypatch.setenv("AGORA_CONFIG", str(config))
    monkeypatch.delenv("AGORA_REGISTRATIONS", raising=False)
    assert Settings().instance_title == "From file"
    assert Settings().registrations == "approval"
    monkeypatch.setenv("AGORA_INSTANCE_TITLE", "From env")
    assert Settings().instance_title == "From env"


def test_invalid_setting_is_rejected(monkeypatch):
    monkeypatch.setenv("AGORA_REGISTRATIONS", "sometimes")
    with pytest.raises(ValidationError):
        Settings()


@pytest.fixture
def no_public_url(monkeypatch):  # type: ignore[no-untyped-def]
    """Neither AGORA_BASE_URL nor AGORA_DOMAIN nor a config file; restored afterwards (and
    the cached settings forgotten, as `use_listening_address` changes the environment)."""
    for name in ("AGORA_BASE_URL", "AGORA_DOMAIN", "AGORA_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("host", "base_url", "domain"),
    [
        ("127.0.0.1", "http://127.0.0.1:9000", "127.0.0.1:9000"),
        ("social.example", "http://social.example:9000", "social.example:9000"),
        ("::1", "http://[::1]:9000", "[::1]:9000"),
        # every interface: only the operator knows the public name; the local one works
        ("0.0.0.0", "http://127.0.0.1:9000", "127.0.0.1:9000"),
        ("::", "http://127.0.0.1:9000", "127.0.0.1:9000"),
    ],
)
def test_serving_without_a_public_url_advertises_the_listening_address(
    no_public_url, host: str, base_url: str, domain: str
) -> None:
    chosen = use_listening_address(host, 9000)
    assert chosen == {"AGORA_BASE_URL": base_url, "AGORA_DOMAIN": domain}
    assert (get_settings().base_url, get_settings().domain) == (base_url, domain)


def test_a_configured_public_url_is_kept(no_public_url, tmp_path) -> None:
    no_public_url.setenv("AGORA_BASE_URL", "https://social.example")
    no_public_url.setenv("AGORA_DOMAIN", "example")
    assert use_listening_address("127.0.0.1", 9000) == {}
    assert (get_settings().base_url, get_settings().domain) == ("https://social.example", "example")

    config = tmp_path / "agora.toml"
    config.write_text('base_url = "https://from.file"\ndomain = "from.file"\n')
    no_public_url.delenv("AGORA_BASE_URL")
    no_public_url.delenv("AGORA_DOMAIN")
    no_public_url.setenv("AGORA_CONFIG", str(config))
    assert use_listening_address("127.0.0.1", 9000) == {}
    assert (get_settings().base_url, get_settings().domain) == ("https://from.file", "from.file")


def test_the_domain_follows_a_configured_base_url(no_public_url) -> None:
    no_public_url.setenv("AGORA_BASE_URL", "https://social.example")
    assert use_listening_address("127.0.0.1", 9000) == {"AGORA_DOMAIN": "social.example"}
    assert get_settings().domain == "social.example"
