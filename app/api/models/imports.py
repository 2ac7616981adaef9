"""Bodies of legacy import over HTTP: JSON rows, and what an import did."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.fields import Operator, Ref
from app.api.models.refs import NewRef
from app.core import grammar


class LegacyNumber(BaseModel):
    """A number the older system issued."""

    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, grammar.NUMBER.constraints] = Field(examples=["20231015001"])
    issued_at: Annotated[str, grammar.ISSUED_AT_TEXT.constraints] = Field(
        description="ISO 8601; a time without a zone is in the scheme's.",
        examples=["2023-10-15T09:30:00+08:00"],
    )
    refs: list[NewRef | Ref] = Field(
        default_factory=list, max_length=32, description="{system, id} or `system:id` each."
    )


class ImportRows(BaseModel):
    """Numbers to import, as JSON."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rows": [
                        {
                            "number": "20231015001",
                            "issued_at": "2023-10-15T09:30:00+08:00",
                            "refs": [{"system": "crm", "id": "acct-991"}],
                        }
                    ],
                    "operator": "SALES-0042",
                }
            ]
        },
    )

    rows: list[LegacyNumber] = Field(max_length=20_000)
    operator: Operator | None = None


class ImportSummary(BaseModel):
    """What an import did."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scheme": "daily",
                    "lines": 2,
                    "imported": 2,
                    "already_present": 0,
                    "refs_added": 2,
                }
            ]
        }
    )

    scheme: str
    lines: int = Field(description="Rows read (CSV: data lines, after the header).")
    imported: int = Field(description="Numbers stored by this import.")
    already_present: int = Field(description="Numbers stored already, as given: passed over.")
    refs_added: int
