"""Certificates for the TLS tests, made per test by a CA of its own (trustme).

Servers get a certificate for 127.0.0.1 and localhost; clients get one to
present where the server asks for it (Redis by default, custid with
`CUSTID_TLS_CLIENT_CA_FILE`). Files are written with the modes servers insist
on (PostgreSQL refuses a key others can read) and, when the tests run as root,
handed to the `postgres` user that runs the database.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA, a server's certificate and key, and a client's."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path, names: tuple[str, ...] = SERVER_NAMES) -> TlsFiles:
    """A fresh CA, a server certificate for `names` and a client certificate, under
    `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(*names)
    client = ca.issue_cert("custid-client@example.test")
    files = TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert), append=True)
    server.private_key_pem.write_to_path(str(files.key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    for key in (files.key, files.client_key):
        os.chmod(key, 0o600)
    return files


def other_ca_file(directory: Path) -> Path:
    """The certificate of a CA that signed nothing the servers present."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path
