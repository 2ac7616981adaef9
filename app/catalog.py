"""The schemes a custid service serves: those of the scheme file its settings name.

Kept apart from `app.main` so that `custid serve` can read the file before starting its
workers without loading the application, which each worker loads for itself.
"""

from app.settings import Settings
from schemes import Catalog, SchemeFileError, load_catalog


def service_schemes(settings: Settings) -> Catalog:
    """The schemes the settings name; a bad file, or an operator scheme not in it, is a
    `SchemeFileError` naming what is wrong."""
    schemes = load_catalog(settings.schemes_file, settings.time_zone)
    if settings.operator_scheme is not None and settings.operator_scheme not in schemes:
        raise SchemeFileError(
            f"CUSTID_OPERATOR_SCHEME names {settings.operator_scheme!r}, which is no scheme of "
            f"{settings.schemes_file}"
        )
    return schemes
