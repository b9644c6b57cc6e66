"""Settings: AGORA_* variables win over the TOML config file, which wins over defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agora.config import Settings


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
