"""What the bulk commands (`custid import`, `custid export`) share."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, as it was afterwards.

    A bulk command makes millions of short-lived objects and no garbage cycles worth the
    collector's time (loading the database's modules alone makes hundreds of thousands):
    it would scan what is in hand again and again, a third of an import's work. Put back
    afterwards, so that a caller in the same process (a test, say) is left as it was.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
