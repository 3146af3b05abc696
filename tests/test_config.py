"""The reference's config file and REGISTRY_* overrides become typed settings; unsafe keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config import (
    BuiltinTokenService,
    ConfigError,
    HtpasswdAuth,
    TokenAuth,
    load_settings,
    parse_duration,
)

REFERENCE_STYLE = """\
version: 0.1
log:
  level: debug
  formatter: json
  fields: {service: registry}
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  maintenance:
    uploadpurging: {enabled: true, age: 72h, interval: 1h30m, dryrun: true}
    readonly: {enabled: false}
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
  prefix: /mirror/
  secret: asecretforlocaldevelopment
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver: {enabled: true, interval: 10s, threshold: 3}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


def test_reference_config_file_is_read(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, REFERENCE_STYLE), environ={})
    assert settings.storage_driver == "filesystem"
    assert settings.root_directory == "/var/lib/registry"
    assert settings.delete_enabled is True
    assert settings.read_only is False
    assert settings.upload_purging.age_seconds == 72 * 3600
    assert settings.upload_purging.interval_seconds == 5400
    assert settings.upload_purging.dry_run is True
    assert settings.addr == ":5000"
    assert settings.prefix == "/mirror"
    assert settings.secret == "asecretforlocaldevelopment"
    assert settings.headers == {"X-Content-Type-Options": ["nosniff"]}
    assert (settings.log_level, settings.log_formatter) == ("debug", "json")
    # keys dockyard does not implement, where ignoring them is harmless, are warned about by name
    assert settings.blob_cache == "inmemory"
    health = settings.storage_health
    assert (health.enabled, health.interval_seconds, health.threshold) == (True, 10.0, 3)
    assert settings.log_fields == {"service": "registry"}
    assert not any(warning.startswith(("health", "log.fields")) for warning in settings.warnings)


def test_environment_overrides_keys_case_insensitively(tmp_path: Path) -> None:
    environ = {
        "REGISTRY_HTTP_ADDR": "127.0.0.1:5123",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/images",
        "REGISTRY_STORAGE_DELETE_ENABLED": "false",
        "REGISTRY_HTTP_SECRET": "from-env",
        "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true",
    }
    settings = load_settings(_write(tmp_path, REFERENCE_STYLE), environ=environ)
    assert settings.addr == "127.0.0.1:5123"
    assert settings.root_directory == "/srv/images"
    assert settings.delete_enabled is False
    assert settings.secret == "from-env"
    assert settings.read_only is True


def test_no_config_file_gives_the_embedded_default() -> None:
    settings = load_settings(None, environ={})
    assert settings.addr == ":5000"
    assert settings.storage_driver == "filesystem"
    assert settings.root_directory == "./registry-data"


def test_inmemory_driver(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "version: 0.1\nstorage:\n  inmemory: {}\n"), environ={})
    assert settings.storage_driver == "inmemory"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("version: 0.1\nstorage: {filesystem: {}}\nauth:\n  silly: {realm: r, service: s}\n", "auth.silly"),
        ("version: 0.1\nstorage: {filesystem: {}}\nauth:\n  ldap: {url: x}\n", "auth.ldap"),
        ("version: 0.1\nstorage: {filesystem: {}}\nauth:\n  htpasswd: {realm: r}\n", "auth.htpasswd.path"),
        (
            "version: 0.1\nstorage: {filesystem: {}}\nauth:\n  htpasswd: {realm: r, path: /x}\n  token: {}\n",
            "exactly one",
        ),
        ("version: 0.1\nstorage: {s3: {bucket: b}}\n", "storage.s3.region"),
        ("version: 0.1\nstorage: {s3: {region: r}}\n", "storage.s3.bucket"),
        ("version: 0.1\nstorage: {s3: {region: r, bucket: b, chunksize: 1024}}\n", "storage.s3.chunksize"),
        ("version: 0.1\nstorage: {s3: {region: r, bucket: b, secure: maybe}}\n", "storage.s3.secure"),
        ("version: 0.1\nstorage: {s3: {region: r, bucket: b, v4auth: false}}\n", "storage.s3.v4auth"),
        ("version: 0.1\nstorage: {azure: {accountname: a}}\n", "storage.azure"),
        ("version: 0.1\nstorage: {filesystem: {}, cache: {blobdescriptor: redis}}\n", "redis.addr"),
        ("version: 0.1\nstorage: {filesystem: {}, cache: {blobdescriptor: memcached}}\n", "blobdescriptor"),
        ("version: 0.1\nstorage: {filesystem: {}}\nredis: {db: 1}\n", "redis.addr"),
        ("version: 0.1\nstorage: {filesystem: {}}\nproxy: {remoteurl: https://x}\n", "proxy.remoteurl"),
        (
            "version: 0.1\nstorage: {filesystem: {}}\nhttp: {tls: {clientcas: /ca.pem}}\n",
            "http.tls.clientcas",
        ),
        ("version: 0.1\nstorage: {filesystem: {}, inmemory: {}}\n", "storage"),
        ("storage: {filesystem: {}}\n", "version"),
        ("version: 0.1\nstorage: {filesystem: {}}\nlog: {formatter: xml}\n", "log.formatter"),
        ("version: 0.1\nstorage: {filesystem: {}, maintenance: {uploadpurging: {age: soon}}}\n", "age"),
        ("version: [unclosed\n", "YAML"),
        ("version: 0.1\nstorage: {filesystem: {}}\nhttp: {workers: 0}\n", "http.workers"),
        ("version: 0.1\nstorage: {filesystem: {}}\nhttp: {workers: many}\n", "http.workers"),
    ],
)
def test_unsafe_or_broken_configuration_is_refused_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(_write(tmp_path, text), environ={})


def test_unsafe_key_from_the_environment_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="auth"):
        load_settings(_write(tmp_path, REFERENCE_STYLE), environ={"REGISTRY_AUTH_SILLY_REALM": "/x"})


def test_htpasswd_auth_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "REGISTRY_AUTH_HTPASSWD_REALM": "Registry Realm",
        "REGISTRY_AUTH_HTPASSWD_PATH": "/etc/htpasswd",
    }
    settings = load_settings(_write(tmp_path, REFERENCE_STYLE), environ=environ)
    assert settings.auth == HtpasswdAuth(realm="Registry Realm", path="/etc/htpasswd")
    assert not [warning for warning in settings.warnings if "auth" in warning]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("168h", 604800.0), ("1h30m", 5400.0), ("10s", 10.0), ("500ms", 0.5), (2_000_000_000, 2.0)],
)
def test_go_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text, "key") == seconds


def test_workers_key_and_its_environment_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 0.1\nstorage: {filesystem: {}}\nhttp: {workers: 3}\n")
    assert load_settings(path, environ={}).workers == 3
    assert load_settings(path, environ={"REGISTRY_HTTP_WORKERS": "5"}).workers == 5
    assert load_settings(None, environ={}).workers is None


S3_STYLE = """\
version: 0.1
storage:
  s3:
    accesskey: AKIAEXAMPLE
    secretkey: s3cr3t
    region: eu-west-1
    regionendpoint: http://127.0.0.1:8333
    bucket: images
    rootdirectory: /registry/root
    encrypt: "true"
    secure: false
    skipverify: true
    v4auth: true
    chunksize: 16777216
    storageclass: reduced_redundancy
  redirect:
    disable: true
  delete:
    enabled: true
"""


def test_s3_parameters_are_read_as_the_reference_reads_them(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, S3_STYLE), environ={})
    assert settings.storage_driver == "s3"
    s3 = settings.s3
    assert s3 is not None
    assert (s3.accesskey, s3.secretkey, s3.region, s3.bucket) == (
        "AKIAEXAMPLE",
        "s3cr3t",
        "eu-west-1",
        "images",
    )
    assert (s3.regionendpoint, s3.rootdirectory) == ("http://127.0.0.1:8333", "/registry/root")
    assert (s3.encrypt, s3.secure, s3.skipverify, s3.v4auth) == (True, False, True, True)
    assert (s3.chunksize, s3.storageclass, s3.forcepathstyle) == (16 << 20, "REDUCED_REDUNDANCY", None)
    assert settings.redirect is False
    assert settings.delete_enabled is True
    assert not settings.warnings


def test_s3_from_the_environment_alone(tmp_path: Path) -> None:
    """``REGISTRY_STORAGE=s3`` switches a filesystem file to S3, keeping the storage options."""
    environ = {
        "REGISTRY_STORAGE": "s3",
        "REGISTRY_STORAGE_S3_REGION": "us-east-1",
        "REGISTRY_STORAGE_S3_BUCKET": "from-env",
        "REGISTRY_STORAGE_S3_CHUNKSIZE": "5242880",
        "REGISTRY_STORAGE_S3_FORCEPATHSTYLE": "false",
    }
    settings = load_settings(_write(tmp_path, REFERENCE_STYLE), environ=environ)
    assert settings.storage_driver == "s3"
    assert settings.s3 is not None
    assert (settings.s3.bucket, settings.s3.chunksize, settings.s3.forcepathstyle) == (
        "from-env",
        5 << 20,
        False,
    )
    assert settings.delete_enabled is True
    assert settings.redirect is True


def test_redis_block_as_the_reference_writes_it(tmp_path: Path) -> None:
    text = (
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /r}, cache: {blobdescriptor: redis}}\n"
        "redis: {addr: 'redis:6380', password: pw, db: 2, dialtimeout: 10ms, readtimeout: 1s, "
        "writetimeout: 2s, pool: {maxidle: 16, maxactive: 32, idletimeout: 300s}}\n"
    )
    settings = load_settings(_write(tmp_path, text), environ={"REGISTRY_REDIS_DB": "3"})
    assert settings.blob_cache == "redis"
    assert settings.redis is not None
    redis = settings.redis
    assert (redis.addr, redis.password, redis.db, redis.max_connections) == ("redis:6380", "pw", 3, 32)
    assert (redis.dial_timeout, redis.read_timeout, redis.write_timeout) == (0.01, 1.0, 2.0)
    assert settings.warnings == ()


def test_garbage_collection_keys(tmp_path: Path) -> None:
    default = load_settings(_write(tmp_path, "version: 0.1\nstorage: {filesystem: {}}\n"), environ={})
    assert (default.gc.enabled, default.gc.interval_seconds, default.gc.grace_seconds) == (False, 86400, 3600)
    text = (
        "version: 0.1\nstorage:\n  filesystem: {rootdirectory: /x}\n  maintenance:\n"
        "    gc: {enabled: true, interval: 0s, graceperiod: 5m, deleteuntagged: true, dryrun: true}\n"
    )
    settings = load_settings(_write(tmp_path, text), environ={})
    assert settings.warnings == ()
    gc = settings.gc
    assert (gc.enabled, gc.interval_seconds, gc.grace_seconds, gc.delete_untagged, gc.dry_run) == (
        True, 0, 300, True, True,
    )  # fmt: skip


def test_token_auth_settings(tmp_path: Path) -> None:
    text = (
        "version: 0.1\nstorage: {filesystem: {}}\nauth:\n  token:\n    realm: https://auth/token\n"
        "    service: reg\n    issuer: iss\n    rootcertbundle: /roots.pem\n    signingalgorithms: [ES256]\n"
        "    autoredirect: true\n"
    )
    settings = load_settings(_write(tmp_path, text), environ={})
    assert settings.auth == TokenAuth(
        realm="https://auth/token",
        service="reg",
        issuer="iss",
        rootcertbundle="/roots.pem",
        signing_algorithms=("ES256",),
        autoredirect=True,
    )
    builtin = text.replace(
        "    rootcertbundle: /roots.pem\n",
        "    builtin: {htpasswd: /h, access: /a, signingkey: /k, expiration: 1m}\n",
    )
    parsed = load_settings(_write(tmp_path, builtin), environ={}).auth
    assert isinstance(parsed, TokenAuth) and parsed.rootcertbundle is None
    assert parsed.builtin == BuiltinTokenService(
        htpasswd="/h", access="/a", signing_key="/k", expiration_seconds=60
    )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("{realm: r, service: s, issuer: i}", "at least one token signing key"),
        ("{realm: r, service: s, rootcertbundle: /x}", "auth.token.issuer"),
        ("{realm: r, service: s, issuer: i, jwks: /j, signingalgorithms: ES256}", "signingalgorithms"),
        ("{realm: r, service: s, issuer: i, jwks: /j, autoredirect: maybe}", "autoredirect"),
        ("{realm: r, service: s, issuer: i, builtin: {htpasswd: /h, access: /a}}", "builtin.signingkey"),
    ],
)
def test_token_auth_mistakes_are_refused(tmp_path: Path, options: str, named: str) -> None:
    text = f"version: 0.1\nstorage: {{filesystem: {{}}}}\nauth:\n  token: {options}\n"
    with pytest.raises(ConfigError, match=named):
        load_settings(_write(tmp_path, text), environ={})
