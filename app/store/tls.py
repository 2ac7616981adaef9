"""TLS to the backends: PostgreSQL as libpq is told (`sslmode`, `sslrootcert`), Redis as
redis-py is told (`ssl_ca_certs`, …), each verifying the server's certificate.

PostgreSQL's URL takes libpq's own parameters, which operators already know:

    postgresql+asyncpg://custid@db.internal/custid?sslmode=verify-full&sslrootcert=/etc/custid/pg-ca.pem

asyncpg does not read them from keyword arguments, so they become the SSL
context it does take, for SQLAlchemy's connections and the driver pool alike.
"""

import ssl
from pathlib import Path
from typing import Any

# libpq's names, read from the URL's query and never passed on as they are.
LIBPQ_TLS_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class TlsSettingError(ValueError):
    """A TLS parameter that cannot be honoured, named."""


def postgres_connect_args(params: dict[str, Any]) -> dict[str, Any]:
    """asyncpg's connect arguments for `params`, with libpq's TLS parameters turned into
    the `ssl` argument: an SSL context that verifies as `sslmode` asks."""
    given = {name: params.pop(name) for name in LIBPQ_TLS_PARAMETERS if name in params}
    if not given:
        return params
    mode = str(given.get("sslmode", "prefer"))
    if mode not in SSL_MODES:
        raise TlsSettingError(f"sslmode={mode!r} is not one of {', '.join(SSL_MODES)}")
    root = given.get("sslrootcert")
    if mode == "disable":
        params["ssl"] = False
    elif mode in ("allow", "prefer") or (mode == "require" and root is None):
        # Encrypted, but nothing verified: libpq's meaning of these modes.
        params["ssl"] = mode if "sslcert" not in given else unverified_context(given)
    else:
        # libpq: `require` with a root certificate verifies the CA as `verify-ca` does.
        params["ssl"] = verifying_context(
            root,
            check_hostname=mode == "verify-full",
            cert=given.get("sslcert"),
            key=given.get("sslkey"),
        )
    return params


def verifying_context(
    ca_file: str | Path | None,
    *,
    check_hostname: bool = True,
    cert: str | Path | None = None,
    key: str | Path | None = None,
) -> ssl.SSLContext:
    """A client context that trusts `ca_file` (else the system's CAs) and checks the
    server's name unless told not to; it presents `cert` if one is given."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.check_hostname = check_hostname
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def unverified_context(given: dict[str, Any]) -> ssl.SSLContext:
    """Encryption without verification (`sslmode=require`), presenting a client certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(given["sslcert"]), given.get("sslkey"))
    return context


def redis_tls_options(
    enabled: bool, ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> dict[str, Any]:
    """redis-py's connection options for TLS that verifies the server's certificate and
    name (and presents a client certificate when given); none when TLS is off."""
    if not enabled:
        return {}
    options: dict[str, Any] = {
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
    }
    if ca_file is not None:
        options["ssl_ca_certs"] = str(ca_file)
    if cert_file is not None:
        options["ssl_certfile"] = str(cert_file)
        options["ssl_keyfile"] = str(key_file) if key_file else None
    return options
