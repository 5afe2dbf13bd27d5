"""ApiKeySource with real boto3 against moto: key formats, caching, refresh, failures not cached."""

from __future__ import annotations

import pytest

from broker.api_key import REFRESH_BACKOFF_BASE_SECONDS, REFRESH_BACKOFF_MAX_SECONDS, parse_api_key
from broker.errors import ApiKeyUnavailable
from tests.unit.conftest import NAME, CountingSecrets


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


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_refresh_serves_the_last_good_key_and_backs_off(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock, reasons = Clock(), []
    source = secrets.source(ttl=300, clock=clock, on_failure=reasons.append)
    assert source.get() == "gd_good"
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)  # Secrets Manager fails
    clock.now += 301
    assert [source.get() for _ in range(20)] == ["gd_good"] * 20
    assert secrets.reads == 2  # one failed refresh, then the back-off
    assert len(reasons) == 1 and "ResourceNotFoundException" in reasons[0]
    clock.now += REFRESH_BACKOFF_BASE_SECONDS  # the back-off (jittered within 2.5-5 s) has passed
    assert source.get() == "gd_good"
    assert secrets.reads == 3 and len(reasons) == 2


def test_the_back_off_starts_when_a_slow_refresh_has_failed(secrets: CountingSecrets) -> None:
    """A hanging Secrets Manager: the refresh takes longer than the first back-off, which must not
    already have passed when the failure comes back."""
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock = Clock()
    source = secrets.source(ttl=300, clock=clock)
    source.get()
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)

    def hang(**_: object) -> None:
        clock.now += REFRESH_BACKOFF_BASE_SECONDS + 1  # each SDK attempt waits out its timeout

    secrets.client.meta.events.register("before-call.secrets-manager.GetSecretValue", hang)
    clock.now += 301
    assert [source.get() for _ in range(20)] == ["gd_good"] * 20
    assert secrets.reads == 2  # one slow failed refresh, then the back-off


def test_the_back_off_grows_and_is_bounded(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock = Clock()
    source = secrets.source(ttl=0, clock=clock, max_staleness=10**6)
    source.get()
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    gaps = []
    for _ in range(10):
        reads = secrets.reads
        started = clock.now
        while secrets.reads == reads:
            source.get()
            clock.now += 0.5
        gaps.append(clock.now - started)
    assert gaps[1] < gaps[4]  # it grows...
    assert max(gaps) <= REFRESH_BACKOFF_MAX_SECONDS + 1  # ...up to its bound


def test_a_refresh_that_succeeds_again_ends_the_back_off(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock = Clock()
    source = secrets.source(ttl=300, clock=clock)
    source.get()
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    clock.now += 301
    source.get()
    secrets.client.create_secret(Name=NAME, SecretString="gd_rotated")
    clock.now += REFRESH_BACKOFF_BASE_SECONDS
    assert source.get() == "gd_rotated"
    clock.now += 299
    assert source.get() == "gd_rotated"
    assert secrets.reads == 3  # cached again for the TTL


def test_a_key_past_the_maximum_staleness_is_not_served(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock = Clock()
    source = secrets.source(ttl=300, clock=clock, max_staleness=3600)
    source.get()
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    clock.now += 3500
    assert source.get() == "gd_good"
    clock.now += 200  # 3,700 s old: the refresh fails and the key is too old to stand in
    with pytest.raises(ApiKeyUnavailable, match="too old"):
        source.get()
    reads = secrets.reads
    with pytest.raises(ApiKeyUnavailable, match="too old"):
        source.get()  # within the back-off: refused without another read
    assert secrets.reads == reads


def test_a_malformed_new_value_keeps_the_last_good_key(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock, reasons = Clock(), []
    source = secrets.source(ttl=300, clock=clock, on_failure=reasons.append)
    source.get()
    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_pasted\nwith a newline")
    clock.now += 301
    assert source.get() == "gd_good"
    assert reasons and "malformed" in reasons[0] and "pasted" not in reasons[0]


def test_a_forced_refresh_never_falls_back(secrets: CountingSecrets) -> None:
    """Gradium refused the cached key: serving it again cannot help."""
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    source = secrets.source()
    source.get()
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ApiKeyUnavailable):
        source.get(refresh=True)


def test_a_failed_forced_refresh_backs_off_and_is_reported(secrets: CountingSecrets) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_good")
    clock, reasons = Clock(), []
    source = secrets.source(clock=clock, on_failure=reasons.append)
    source.get()
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    for _ in range(10):
        with pytest.raises(ApiKeyUnavailable):
            source.get(refresh=True)
    assert secrets.reads == 2 and len(reasons) == 1  # one read, then the back-off answers at once
    assert source.get() == "gd_good"  # a plain read still has its last good key within the TTL
    clock.now += REFRESH_BACKOFF_BASE_SECONDS
    with pytest.raises(ApiKeyUnavailable):
        source.get(refresh=True)
    assert secrets.reads == 3 and len(reasons) == 2
