"""The HTTPS server context that ``http.tls`` asks for: certificate and key, minimum version, and with
``clientcas`` mutual TLS (a client must present a certificate issued by one of those CAs)."""

from __future__ import annotations

import ssl

from dockyard.config import ConfigError, Settings

MINIMUM_VERSIONS = {
    "tls1.0": ssl.TLSVersion.TLSv1,
    "tls1.1": ssl.TLSVersion.TLSv1_1,
    "tls1.2": ssl.TLSVersion.TLSv1_2,
    "tls1.3": ssl.TLSVersion.TLSv1_3,
}


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """None when TLS is not configured (plain HTTP, e.g. on loopback)."""
    if not settings.tls_certificate:
        if settings.tls_client_cas:
            raise ConfigError("http.tls.clientcas: needs http.tls.certificate and http.tls.key")
        return None
    minimum = str(settings.tls_minimum or "tls1.2").lower()
    if minimum not in MINIMUM_VERSIONS:
        raise ConfigError(f"http.tls.minimumtls: unknown minimum TLS level {minimum!r} (tls1.0 … tls1.3)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MINIMUM_VERSIONS[minimum]
    try:
        context.load_cert_chain(settings.tls_certificate, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"http.tls.certificate/key: cannot load them: {exc}") from exc
    for path in settings.tls_client_cas:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"http.tls.clientcas: cannot load {path}: {exc}") from exc
    if settings.tls_client_cas:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
