"""ApiKeySource with real boto3 against moto: key formats, caching, refresh, failures not cached."""

from __future__ import annotations

import pytest

from tests.unit.conftest import NAME, CountingSecrets

from api_key import parse_api_key
from errors import ApiKeyUnavailable


@pytest.mark.parametrize(
    ("stored", "key"),
    [
        ("gd_abc123", "gd_abc123"),
        ("  gd_abc123\n", "gd_abc123"),
        ('{"api_key": "gd_abc123"}', "gd_abc123"),
        ('  {"api_key": " gd_abc123 ", "note": "prod"}  ', "gd_abc123"),
        ("sk-other-prefix", "sk-other-prefix"),
    ],
)
def test_reads_a_bare_or_json_key(secrets: CountingSecrets, stored: str, key: str) -> None:
    secrets.client.create_secret(Name=NAME, SecretString=stored)
    assert secrets.source().get() == key


@pytest.mark.parametrize(
    "stored", ["   ", '{"api_key": ""}', '{"key": "gd_x"}', '{"api_key": 5}', "{not json", "{}"]
)
def test_a_secret_without_a_usable_key_is_refused(secrets: CountingSecrets, stored: str) -> None:
    secrets.client.create_secret(Name=NAME, SecretString=stored)
    with pytest.raises(ApiKeyUnavailable) as refused:
        secrets.source().get()
    assert refused.value.status == 500


@pytest.mark.parametrize(
    "stored",
    [
        "gd_first_4f1c\ngd_second_9a7e",
        '{"api_key": "gd_first_4f1c\\ngd_second_9a7e"}',
        "gd_smart\u201cquote_7d8e",
        "gd_tab\ttabbed_3a4b",
        "gd_nbsp\u00a0nbsp_5c6d",
        "gd_nul\x00nul_7e8f",
        '{"api_key": ' * 5000,
    ],
)
def test_a_malformed_key_is_refused_without_its_value(secrets: CountingSecrets, stored: str) -> None:
    secrets.client.create_secret(Name=NAME, SecretString=stored)
    with pytest.raises(ApiKeyUnavailable) as refused:
        secrets.source().get()
    assert refused.value.status == 500
    for piece in ("gd_", "4f1c", "9a7e", "7d8e", "3a4b", "5c6d", "7e8f"):
        assert piece not in str(refused.value)


def test_a_binary_secret_is_refused(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretBinary=b"gd_abc")
    with pytest.raises(ApiKeyUnavailable, match="binary"):
        secrets.source().get()


def test_a_missing_secret_is_refused_without_its_details(secrets: CountingSecrets) -> None:
    with pytest.raises(ApiKeyUnavailable) as refused:
        secrets.source().get()
    assert "ResourceNotFoundException" in str(refused.value)
    assert refused.value.public_message == "Gradium API key is not available"


def test_a_secret_created_without_a_value_is_refused(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME)  # what the template creates before the key is put in
    with pytest.raises(ApiKeyUnavailable):
        secrets.source().get()


def test_the_key_is_cached_until_the_ttl(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_first")
    source = secrets.source(ttl=300)
    assert [source.get() for _ in range(5)] == ["gd_first"] * 5
    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_second")
    assert source.get() == "gd_first"
    assert secrets.reads == 1


def test_a_zero_ttl_reads_every_time(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_first")
    source = secrets.source(ttl=0)
    source.get()
    source.get()
    assert secrets.reads == 2


def test_refresh_bypasses_the_cache(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_first")
    source = secrets.source()
    source.get()
    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_second")
    assert source.get(refresh=True) == "gd_second"
    assert source.get() == "gd_second"
    assert secrets.reads == 2


def test_a_failed_read_is_not_cached(secrets: CountingSecrets) -> None:
    source = secrets.source()
    with pytest.raises(ApiKeyUnavailable):
        source.get()
    secrets.client.create_secret(Name=NAME, SecretString="gd_late")
    assert source.get() == "gd_late"


def test_parse_api_key_never_echoes_the_value() -> None:
    with pytest.raises(ApiKeyUnavailable) as refused:
        parse_api_key('{"api_key": 123456789}')
    assert "123456789" not in str(refused.value)
