"""The reference registry's configuration file and ``REGISTRY_*`` environment overrides, as typed settings.

The file is the very one ``docker-registry serve`` reads. An environment variable ``REGISTRY_A_B_C``
overrides key ``a.b.c`` (matched case-insensitively against the file's keys, created when absent).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockyard.registry.blob_cache import RedisOptions
from dockyard.storage.drivers.s3_settings import MAX_PART, MIN_PART, S3Settings

log = logging.getLogger(__name__)

DEFAULT_ROOT = "./registry-data"
DEFAULT_ADDR = ":5000"

# Keys whose absence of support would silently weaken security or change what is served: refuse them.
_REFUSED = {
    "auth.silly": "silly auth is a test fixture of the reference, not an access control",
    "proxy": "pull-through cache mode is not implemented",
    "middleware": "storage/registry middleware is not implemented",
    "http.tls.letsencrypt": "Let's Encrypt certificates are not implemented",
}
_STORAGE_DRIVERS = {"filesystem", "inmemory", "s3"}
_STORAGE_OPTIONS = {"delete", "maintenance", "cache", "redirect", "tag"}
# Keys dockyard understands; anything else is warned about and ignored.
_KNOWN = {
    "version",
    "log.level",
    "log.formatter",
    "log.fields",
    "log.accesslog.disabled",
    "storage.filesystem.rootdirectory",
    "storage.filesystem.maxthreads",
    "storage.inmemory",
    "storage.redirect.disable",
    "storage.cache.blobdescriptor",
    "redis.addr",
    "redis.password",
    "redis.db",
    "redis.dialtimeout",
    "redis.readtimeout",
    "redis.writetimeout",
    "redis.pool.maxactive",
    "redis.pool.maxidle",
    "redis.pool.idletimeout",
    *(f"storage.s3.{key}" for key in S3Settings.__dataclass_fields__),
    "storage.delete.enabled",
    "storage.maintenance.uploadpurging.enabled",
    "storage.maintenance.uploadpurging.age",
    "storage.maintenance.uploadpurging.interval",
    "storage.maintenance.uploadpurging.dryrun",
    "storage.maintenance.readonly.enabled",
    "storage.maintenance.gc.enabled",
    "storage.maintenance.gc.interval",
    "storage.maintenance.gc.graceperiod",
    "storage.maintenance.gc.deleteuntagged",
    "storage.maintenance.gc.dryrun",
    "http.addr",
    "http.net",
    "http.host",
    "http.prefix",
    "http.secret",
    "http.debug.addr",
    "http.debug.prometheus.enabled",
    "http.debug.prometheus.path",
    "health.storagedriver.enabled",
    "health.storagedriver.interval",
    "health.storagedriver.threshold",
    "http.workers",
    "http.relativeurls",
    "http.timeouts.idle",
    "http.timeouts.read",
    "http.headers",
    "http.tls.certificate",
    "http.tls.key",
    "http.tls.minimumtls",
    "http.tls.clientcas",
    "auth.htpasswd.realm",
    "auth.htpasswd.path",
    "auth.token.realm",
    "auth.token.service",
    "auth.token.issuer",
    "auth.token.rootcertbundle",
    "auth.token.jwks",
    "auth.token.signingalgorithms",
    "auth.token.autoredirect",
    "auth.token.autoredirectpath",
    "auth.token.builtin.htpasswd",
    "auth.token.builtin.access",
    "auth.token.builtin.signingkey",
    "auth.token.builtin.expiration",
    "auth.token.builtin.refreshexpiration",
    "validation.disabled",
    "validation.enabled",
    "validation.manifests.urls.allow",
    "validation.manifests.urls.deny",
}


_AUTH_TYPES = ("htpasswd", "token")


class ConfigError(ValueError):
    """The configuration cannot be served safely; the message names the key."""


@dataclass(frozen=True, slots=True)
class HtpasswdAuth:
    """``auth.htpasswd``: Basic authentication, every user of the file may do everything."""

    realm: str
    path: str


@dataclass(frozen=True, slots=True)
class BuiltinTokenService:
    """``auth.token.builtin``: dockyard issues the tokens itself (a dockyard extension)."""

    htpasswd: str
    access: str
    signing_key: str
    expiration_seconds: float = 300.0
    refresh_expiration_seconds: float = 30 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """``auth.token``: Bearer tokens from a token service, as the reference verifies them."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: str | None = None
    jwks: str | None = None
    signing_algorithms: tuple[str, ...] = ()
    autoredirect: bool = False
    autoredirect_path: str = "/auth/token"
    builtin: BuiltinTokenService | None = None


AuthSettings = HtpasswdAuth | TokenAuth


@dataclass(frozen=True, slots=True)
class UploadPurging:
    enabled: bool = True
    age_seconds: float = 168 * 3600
    interval_seconds: float = 24 * 3600
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class StorageHealth:
    """``health.storagedriver``: a periodic check of the storage driver."""

    enabled: bool = False
    interval_seconds: float = 10.0
    threshold: int = 1  # consecutive failures before the registry answers 503


@dataclass(frozen=True, slots=True)
class GarbageCollection:
    """``storage.maintenance.gc`` (dockyard only): collection while serving."""

    enabled: bool = False  # the schedule and the admin endpoint
    interval_seconds: float = 24 * 3600  # 0: on demand only
    grace_seconds: float = 3600  # what is younger is spared while servers use the storage
    delete_untagged: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    storage_driver: str = "filesystem"
    root_directory: str = DEFAULT_ROOT
    s3: S3Settings | None = None
    redirect: bool = True  # blob GETs answer with a redirect to the storage's URL where it has one
    blob_cache: str | None = None  # storage.cache.blobdescriptor: None, "inmemory" or "redis"
    redis: RedisOptions | None = None
    delete_enabled: bool = False
    read_only: bool = False
    upload_purging: UploadPurging = field(default_factory=UploadPurging)
    gc: GarbageCollection = field(default_factory=GarbageCollection)
    addr: str = DEFAULT_ADDR
    host: str | None = None
    prefix: str = ""
    secret: str | None = None
    relative_urls: bool = False
    idle_timeout_seconds: float = 60.0  # a connection that sends no (complete) request is closed
    read_timeout_seconds: float = 60.0  # a request body that stalls this long is cut off
    headers: dict[str, list[str]] = field(default_factory=dict)
    tls_certificate: str | None = None
    tls_key: str | None = None
    tls_minimum: str | None = None
    workers: int | None = None  # worker processes; None: one per CPU
    debug_addr: str | None = None
    prometheus_enabled: bool = False
    prometheus_path: str = "/metrics"
    storage_health: StorageHealth = field(default_factory=StorageHealth)
    tls_client_cas: tuple[str, ...] = ()
    log_level: str = "info"
    log_formatter: str = "text"
    log_fields: dict[str, str] = field(default_factory=dict)
    access_log: bool = True
    validation_enabled: bool = True
    urls_allow: tuple[str, ...] = ()
    urls_deny: tuple[str, ...] = ()
    auth: AuthSettings | None = None
    warnings: tuple[str, ...] = ()


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, key: str) -> float:
    """Go's duration syntax (``168h``, ``1h30m``, ``10s``), in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1e9  # a bare number is nanoseconds, as in Go
    text = str(value).strip()
    pieces = _DURATION_RE.findall(text)
    if not pieces or "".join(number + unit for number, unit in pieces) != text:
        raise ConfigError(f"{key}: invalid duration {value!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in pieces)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{str(key).lower()}"
        if isinstance(value, Mapping) and value and path != "http.headers":
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def apply_environment(tree: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Overlay ``REGISTRY_*`` variables onto the parsed file, as the reference registry does."""
    for variable in sorted(environ):
        if not variable.startswith("REGISTRY_") or variable == "REGISTRY_":
            continue
        parts = variable[len("REGISTRY_") :].lower().split("_")
        node = tree
        if parts == ["storage"] and isinstance(tree.get("storage"), dict):
            _select_storage_driver(tree["storage"], environ[variable].strip().lower())
            continue
        for part in parts[:-1]:
            existing = next((key for key in node if str(key).lower() == part), None)
            if existing is None or not isinstance(node[existing], dict):
                node[existing or part] = {}
                existing = existing or part
            node = node[existing]
        leaf = next((key for key in node if str(key).lower() == parts[-1]), parts[-1])
        node[leaf] = yaml.safe_load(environ[variable]) if environ[variable] else ""


def _auth_settings(tree: dict[str, Any]) -> AuthSettings | None:
    """The one configured access controller; an unknown type is refused (serving it open would be worse)."""
    section = tree.get("auth")
    if section in (None, "", {}):
        return None
    if not isinstance(section, dict):
        raise ConfigError("auth: must be a mapping of one auth type to its options")
    kinds = [str(kind).lower() for kind in section]
    if len(kinds) != 1:
        raise ConfigError(f"auth: must provide exactly one type, got {', '.join(sorted(kinds))}")
    kind = kinds[0]
    options = next(iter(section.values())) or {}
    if kind not in _AUTH_TYPES:
        raise ConfigError(f"auth.{kind}: unknown auth type (supported: {', '.join(_AUTH_TYPES)})")
    if not isinstance(options, dict):
        raise ConfigError(f"auth.{kind}: must be a mapping")
    options = {str(key).lower(): value for key, value in options.items()}
    if kind == "htpasswd":
        return HtpasswdAuth(
            realm=_text(options, "auth.htpasswd", "realm"), path=_text(options, "auth.htpasswd", "path")
        )
    return _token_auth(options)


def _text(options: dict[str, Any], section: str, key: str, required: bool = True) -> str:
    value = options.get(key)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{section}.{key}: a non-empty string is required")
    return value


def _token_auth(options: dict[str, Any]) -> TokenAuth:
    section = "auth.token"
    builtin_options = options.get("builtin")
    builtin = None
    if builtin_options not in (None, "", {}):
        if not isinstance(builtin_options, dict):
            raise ConfigError(f"{section}.builtin: must be a mapping")
        builtin_options = {str(key).lower(): value for key, value in builtin_options.items()}
        where = f"{section}.builtin"
        builtin = BuiltinTokenService(
            htpasswd=_text(builtin_options, where, "htpasswd"),
            access=_text(builtin_options, where, "access"),
            signing_key=_text(builtin_options, where, "signingkey"),
            expiration_seconds=parse_duration(builtin_options.get("expiration", "5m"), f"{where}.expiration"),
            refresh_expiration_seconds=parse_duration(
                builtin_options.get("refreshexpiration", "720h"), f"{where}.refreshexpiration"
            ),
        )
    rootcertbundle = _text(options, section, "rootcertbundle", required=False) or None
    jwks = _text(options, section, "jwks", required=False) or None
    if builtin is None and rootcertbundle is None and jwks is None:
        raise ConfigError(
            f"{section}: token auth requires at least one token signing key (rootcertbundle or jwks)"
        )
    algorithms = options.get("signingalgorithms") or []
    if not isinstance(algorithms, list) or not all(isinstance(item, str) for item in algorithms):
        raise ConfigError(f"{section}.signingalgorithms: must be a list of signing algorithms")
    autoredirect = options.get("autoredirect", False)
    if not isinstance(autoredirect, bool):
        raise ConfigError(f"{section}.autoredirect: must be true or false")
    return TokenAuth(
        realm=_text(options, section, "realm"),
        service=_text(options, section, "service"),
        issuer=_text(options, section, "issuer"),
        rootcertbundle=rootcertbundle,
        jwks=jwks,
        signing_algorithms=tuple(algorithms),
        autoredirect=autoredirect,
        autoredirect_path=_text(options, section, "autoredirectpath", required=False) or "/auth/token",
        builtin=builtin,
    )


def _select_storage_driver(storage: dict[str, Any], driver: str) -> None:
    """``REGISTRY_STORAGE=s3`` switches drivers and keeps the options (delete, redirect, ...)."""
    for key in [key for key in storage if str(key).lower() not in _STORAGE_OPTIONS]:
        if str(key).lower() != driver:
            del storage[key]
    storage.setdefault(driver, {})


def _boolean(value: Any, key: str, default: bool) -> bool:
    """A boolean parameter as the reference parses it: YAML booleans or Go's ParseBool strings."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true"):
        return True
    if text in ("0", "f", "false"):
        return False
    raise ConfigError(f"{key}: must be a boolean, not {value!r}")


def _integer(value: Any, key: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value), 0) if not isinstance(value, int) else value
    except ValueError as exc:
        raise ConfigError(f"{key}: must be an integer, not {value!r}") from exc
    if isinstance(number, bool) or not low <= number <= high:
        raise ConfigError(f"{key}: must be between {low} and {high}, not {value!r}")
    return number


def s3_settings(parameters: Mapping[str, Any]) -> S3Settings:
    """``storage.s3`` checked as the reference's s3 driver checks it."""
    p = {str(key).lower(): value for key, value in parameters.items()}

    def text(key: str, default: str = "") -> str:
        value = p.get(key)
        return default if value is None else str(value)

    region, bucket, endpoint = text("region"), text("bucket"), text("regionendpoint")
    if not region:
        raise ConfigError("storage.s3.region: no region parameter provided")
    if not bucket:
        raise ConfigError("storage.s3.bucket: no bucket parameter provided")
    v4auth = _boolean(p.get("v4auth"), "storage.s3.v4auth", True)
    if not v4auth and (not endpoint or "s3.amazonaws.com" in endpoint):
        raise ConfigError("storage.s3.v4auth: on Amazon S3 only v4 authentication can be used")
    storage_class = text("storageclass", "STANDARD").upper()
    if storage_class not in ("STANDARD", "REDUCED_REDUNDANCY", "NONE"):
        raise ConfigError(f"storage.s3.storageclass: unsupported storage class {storage_class!r}")
    forcepathstyle = p.get("forcepathstyle")
    return S3Settings(
        bucket=bucket,
        region=region,
        accesskey=text("accesskey"),
        secretkey=text("secretkey"),
        sessiontoken=text("sessiontoken"),
        regionendpoint=endpoint,
        forcepathstyle=None
        if forcepathstyle in (None, "")
        else _boolean(forcepathstyle, "storage.s3.forcepathstyle", True),
        secure=_boolean(p.get("secure"), "storage.s3.secure", True),
        skipverify=_boolean(p.get("skipverify"), "storage.s3.skipverify", False),
        v4auth=v4auth,
        encrypt=_boolean(p.get("encrypt"), "storage.s3.encrypt", False),
        keyid=text("keyid"),
        chunksize=_integer(p.get("chunksize"), "storage.s3.chunksize", 2 * MIN_PART, MIN_PART, MAX_PART),
        multipartcopychunksize=_integer(
            p.get("multipartcopychunksize"), "storage.s3.multipartcopychunksize", 32 << 20, MIN_PART, MAX_PART
        ),
        multipartcopymaxconcurrency=_integer(
            p.get("multipartcopymaxconcurrency"), "storage.s3.multipartcopymaxconcurrency", 100, 1, 1 << 20
        ),
        multipartcopythresholdsize=_integer(
            p.get("multipartcopythresholdsize"),
            "storage.s3.multipartcopythresholdsize",
            32 << 20,
            0,
            MAX_PART,
        ),
        rootdirectory=text("rootdirectory"),
        storageclass=storage_class,
        objectacl=text("objectacl", "private"),
        useragent=text("useragent"),
        accelerate=_boolean(p.get("accelerate"), "storage.s3.accelerate", False),
    )


def redis_options(tree: Mapping[str, Any]) -> RedisOptions | None:
    """The reference's ``redis:`` block (``addr`` is what makes it configured)."""
    section = tree.get("redis")
    if section in (None, "", {}):
        return None
    if not isinstance(section, Mapping):
        raise ConfigError("redis: must be a mapping")
    flat = _flatten(section)
    addr = flat.get("addr")
    if not addr:
        raise ConfigError("redis.addr: the address of the Redis server is required")

    def seconds(key: str, default: float) -> float:
        value = flat.get(key)
        return default if value in (None, "") else parse_duration(value, f"redis.{key}")

    return RedisOptions(
        addr=str(addr),
        password=None if flat.get("password") in (None, "") else str(flat["password"]),
        db=_integer(flat.get("db"), "redis.db", 0, 0, 1 << 16),
        dial_timeout=seconds("dialtimeout", 1.0),
        read_timeout=seconds("readtimeout", 1.0),
        write_timeout=seconds("writetimeout", 1.0),
        max_connections=_integer(flat.get("pool.maxactive"), "redis.pool.maxactive", 64, 1, 1 << 16),
    )


def _client_cas(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError("http.tls.clientcas: must be a list of CA certificate files")
    return tuple(value)


def load_settings(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration {path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"configuration {path} must be a mapping")
        tree = loaded or {}
    apply_environment(tree, environ)
    return settings_from_tree(tree, configured=path is not None)


def settings_from_tree(tree: dict[str, Any], configured: bool = True) -> Settings:
    flat = _flatten(tree)
    warnings: list[str] = []
    for key in flat:
        for refused, reason in _REFUSED.items():
            if (key == refused or key.startswith(refused + ".")) and flat[key] not in (None, {}, ""):
                raise ConfigError(f"{key}: {reason}")
    if configured and "version" not in flat:
        raise ConfigError("version: the configuration must declare a version (0.1)")

    storage = tree.get("storage") or {}
    if not isinstance(storage, dict):
        raise ConfigError("storage: must be a mapping")
    drivers = [str(key).lower() for key in storage if str(key).lower() not in _STORAGE_OPTIONS]
    unsupported = [driver for driver in drivers if driver not in _STORAGE_DRIVERS]
    if unsupported:
        raise ConfigError(
            f"storage.{unsupported[0]}: storage driver not supported (filesystem, inmemory, s3)"
        )
    if len(drivers) > 1:
        raise ConfigError(f"storage: more than one storage driver configured: {', '.join(drivers)}")
    driver = drivers[0] if drivers else "filesystem"
    if not drivers and configured:
        raise ConfigError("storage: no storage driver configured")

    for key in flat:
        if not any(key == known or key.startswith(known + ".") for known in _KNOWN):
            warnings.append(f"{key}: not supported by dockyard, ignored")

    def get(key: str, default: Any = None) -> Any:
        value = flat.get(key)
        return default if value is None else value

    headers_tree = get("http.headers", {})
    headers = {
        str(name): [str(item) for item in (values if isinstance(values, list) else [values])]
        for name, values in (headers_tree.items() if isinstance(headers_tree, dict) else [])
    }
    purging = UploadPurging(
        enabled=bool(get("storage.maintenance.uploadpurging.enabled", True)),
        age_seconds=parse_duration(get("storage.maintenance.uploadpurging.age", "168h"), "uploadpurging.age"),
        interval_seconds=parse_duration(
            get("storage.maintenance.uploadpurging.interval", "24h"), "uploadpurging.interval"
        ),
        dry_run=bool(get("storage.maintenance.uploadpurging.dryrun", False)),
    )
    gc = GarbageCollection(
        enabled=bool(get("storage.maintenance.gc.enabled", False)),
        interval_seconds=parse_duration(get("storage.maintenance.gc.interval", "24h"), "gc.interval"),
        grace_seconds=parse_duration(get("storage.maintenance.gc.graceperiod", "1h"), "gc.graceperiod"),
        delete_untagged=bool(get("storage.maintenance.gc.deleteuntagged", False)),
        dry_run=bool(get("storage.maintenance.gc.dryrun", False)),
    )
    formatter = str(get("log.formatter", "text")).lower()
    if formatter not in ("text", "json", "logstash"):
        raise ConfigError(f"log.formatter: unsupported formatter {formatter!r} (text, json, logstash)")
    level = str(get("log.level", "info")).lower()
    if level not in ("debug", "info", "warn", "warning", "error", "fatal", "panic"):
        raise ConfigError(f"log.level: unknown level {level!r}")
    prefix = str(get("http.prefix", "")).rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ConfigError("http.prefix: must start with '/'")
    workers = get("http.workers")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"http.workers: must be a positive number, not {workers!r}")
    interval = parse_duration(get("health.storagedriver.interval", "10s"), "health.storagedriver.interval")
    health = StorageHealth(
        enabled=bool(get("health.storagedriver.enabled", False)),
        interval_seconds=interval if interval > 0 else 10.0,
        threshold=max(1, int(get("health.storagedriver.threshold", 1))),
    )
    log_fields = {
        key.removeprefix("log.fields."): str(value)
        for key, value in flat.items()
        if key.startswith("log.fields.") and value is not None
    }
    prometheus_path = str(get("http.debug.prometheus.path", "/metrics"))
    if not prometheus_path.startswith("/"):
        raise ConfigError("http.debug.prometheus.path: must start with '/'")
    validation_enabled = not bool(get("validation.disabled", False))
    if flat.get("validation.enabled") is not None:
        validation_enabled = bool(flat["validation.enabled"])

    s3 = None
    if driver == "s3":
        parameters = next(value for key, value in storage.items() if str(key).lower() == "s3")
        if not isinstance(parameters, dict):
            raise ConfigError("storage.s3: must be a mapping of parameters")
        s3 = s3_settings(parameters)

    blob_cache = get("storage.cache.blobdescriptor")
    blob_cache = None if blob_cache in ("", None) else str(blob_cache).lower()
    if blob_cache not in (None, "inmemory", "redis"):
        raise ConfigError(f"storage.cache.blobdescriptor: unknown cache {blob_cache!r} (inmemory, redis)")
    redis = redis_options(tree)
    if blob_cache == "redis" and redis is None:
        raise ConfigError("storage.cache.blobdescriptor: redis needs the redis section (redis.addr)")

    return Settings(
        storage_driver=driver,
        root_directory=str(get("storage.filesystem.rootdirectory", DEFAULT_ROOT)),
        s3=s3,
        blob_cache=blob_cache,
        redis=redis,
        redirect=not _boolean(get("storage.redirect.disable"), "storage.redirect.disable", False),
        delete_enabled=bool(get("storage.delete.enabled", False)),
        read_only=bool(get("storage.maintenance.readonly.enabled", False)),
        upload_purging=purging,
        gc=gc,
        addr=str(get("http.addr", DEFAULT_ADDR)),
        host=get("http.host"),
        prefix=prefix,
        secret=None if get("http.secret") in (None, "") else str(get("http.secret")),
        relative_urls=bool(get("http.relativeurls", False)),
        idle_timeout_seconds=parse_duration(get("http.timeouts.idle", "60s"), "http.timeouts.idle"),
        read_timeout_seconds=parse_duration(get("http.timeouts.read", "60s"), "http.timeouts.read"),
        headers=headers,
        tls_certificate=get("http.tls.certificate"),
        tls_key=get("http.tls.key"),
        tls_minimum=get("http.tls.minimumtls"),
        workers=workers,
        debug_addr=None if get("http.debug.addr") in (None, "") else str(get("http.debug.addr")),
        prometheus_enabled=bool(get("http.debug.prometheus.enabled", False)),
        prometheus_path=prometheus_path,
        storage_health=health,
        tls_client_cas=_client_cas(get("http.tls.clientcas", [])),
        log_level=level,
        log_formatter=formatter,
        log_fields=log_fields,
        access_log=not bool(get("log.accesslog.disabled", False)),
        validation_enabled=validation_enabled,
        urls_allow=tuple(str(item) for item in get("validation.manifests.urls.allow", []) or []),
        urls_deny=tuple(str(item) for item in get("validation.manifests.urls.deny", []) or []),
        auth=_auth_settings(tree),
        warnings=tuple(warnings),
    )
