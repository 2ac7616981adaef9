"""Bodies of the gaps of a period: the values skipped, and why."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.fields import Period


class GapBody(BaseModel):
    """Missing sequence values first..last, and why."""

    __qualname__ = "Gap"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(title="Gap")

    first: int
    last: int
    count: int
    cause: Literal[
        "collision",
        "answered_elsewhere",
        "counter_raised",
        "failed_transaction",
        "unused",
        "unknown",
    ] = Field(description="Why the values are missing, as far as custid recorded it.")
    explanation: str


class PartitionGapsBody(BaseModel):
    """The gaps of one partition of the period."""

    __qualname__ = "PartitionGaps"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(title="PartitionGaps")

    partition: str
    highest_seq: int
    missing: int = Field(description="How many values from 1 to `highest_seq` are not stored.")
    gaps: list[GapBody]
    truncated: bool = Field(description="True when there are more runs than listed (1,000).")


class PeriodGaps(BaseModel):
    """Every sequence value of a period not stored as a number, by partition, with its cause."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scheme": "daily",
                    "period": "20231015",
                    "partitions": [
                        {
                            "partition": "",
                            "highest_seq": 12,
                            "missing": 3,
                            "gaps": [
                                {
                                    "first": 4,
                                    "last": 5,
                                    "count": 2,
                                    "cause": "collision",
                                    "explanation": "reserved for a request whose numbers or "
                                    "ref collided with stored ones; it was retried with new "
                                    "values",
                                },
                                {
                                    "first": 9,
                                    "last": 9,
                                    "count": 1,
                                    "cause": "unknown",
                                    "explanation": "no record: a process stopped, or the "
                                    "database was unreachable, between reserving the values "
                                    "and storing them",
                                },
                            ],
                            "truncated": False,
                        }
                    ],
                }
            ]
        }
    )

    scheme: str
    period: Period = Field(description="The period, `-` for a scheme that never resets.")
    partitions: list[PartitionGapsBody]
