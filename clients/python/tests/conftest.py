"""A really running custid (`custid serve` on a free port) for the client to talk to."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custid_testing.backends import TEST_SCHEMES
from custid_testing.servers import ServiceProcess, create_key


@dataclass(frozen=True)
class RunningCustid:
    """A custid process and keys for it."""

    service: ServiceProcess
    env: dict[str, str]
    admin_key: str
    reader_key: str

    @property
    def url(self) -> str:
        return self.service.url


def custid_env(data: Path) -> dict[str, str]:
    """An embedded custid with the test schemes (`tiny` holds 9 numbers a day)."""
    return {"CUSTID_DATA_DIR": str(data), "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES)}


@pytest.fixture(scope="module")
def custid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCustid]:
    env = custid_env(tmp_path_factory.mktemp("custid"))
    admin = create_key(env, "client-admin", "numbers:admin", "numbers:issue", "numbers:read")
    reader = create_key(env, "client-reader", "numbers:read")
    service = ServiceProcess(env).start()
    yield RunningCustid(service, env, admin, reader)
    service.stop()
