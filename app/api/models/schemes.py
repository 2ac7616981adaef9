"""Bodies that describe schemes: their settings, use, forecasts and previews."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.fields import Period


class SchemeSummary(BaseModel):
    """A scheme as clients see it."""

    name: str
    kind: str
    description: str
    version: int
    time_zone: str
    capacity: int = Field(description="Numbers per period and partition.")
    counted: bool = Field(description="True if numbers carry a sequence; false if drawn at random.")
    max_length: int = Field(description="The longest number the scheme renders.")
    example: str = Field(description="What a number looks like now (nothing is issued).")
    example_attributes: dict[str, str]
    segments: list[dict[str, Any]] = Field(description="The parts of a number, in order.")
    parameters: dict[str, Any]
    reservation_ttl_seconds: int = Field(
        default=900, description="How long a reservation holds its numbers by default."
    )
    max_reservation_ttl_seconds: int = Field(
        default=86_400, description="The longest hold a reservation may ask for."
    )
    gapless: bool = Field(
        default=False,
        description="True if values are assigned only at confirm (or issue) time, in strict "
        "order, never skipped.",
    )
    recycle_after_seconds: int | None = Field(
        default=None,
        description="Quarantine after which a retired number is issued again; null: never.",
    )


class SchemeList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "schemes": [
                        {
                            "name": "daily",
                            "kind": "timestamp",
                            "description": "Date YYYYMMDD + 3-digit daily sequence",
                            "version": 1,
                            "time_zone": "UTC",
                            "capacity": 999,
                            "counted": True,
                            "max_length": 11,
                            "example": "20231015001",
                            "example_attributes": {},
                            "segments": [
                                {"type": "date", "format": "%Y%m%d"},
                                {"type": "sequence", "width": 3, "scope": []},
                            ],
                            "parameters": {"prefix": "", "format": "%Y%m%d", "width": 3},
                        }
                    ]
                }
            ]
        }
    )

    schemes: list[SchemeSummary]


class PartitionUtilisation(BaseModel):
    partition: str = Field(description="Attribute values counted separately, e.g. region=SH.")
    issued: int = Field(description="Numbers stored in this period and partition.")
    used: int = Field(description="Capacity used: the highest sequence value, or numbers drawn.")
    share: float = Field(description="used / capacity")


class UtilisationBody(BaseModel):
    """How much of the current period a scheme has used."""

    __qualname__ = "Utilisation"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(title="Utilisation")

    period: Period = Field(
        description="The current period, e.g. 20231015; `-` for a scheme that never resets."
    )
    capacity: int
    share: float = Field(description="The fullest partition's share, 0 to 1.")
    partitions: list[PartitionUtilisation]


class SchemeDetail(SchemeSummary):
    """A scheme with its versions and current utilisation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "regional",
                    "kind": "composite",
                    "description": "Region code + date + daily sequence counted per region",
                    "version": 1,
                    "time_zone": "Asia/Shanghai",
                    "capacity": 999,
                    "counted": True,
                    "max_length": 14,
                    "example": "SHA20231015001",
                    "example_attributes": {"region": "SH"},
                    "segments": [
                        {
                            "type": "attribute",
                            "name": "region",
                            "codes": {"SH": "SHA", "BJ": "BJS"},
                        },
                        {"type": "date", "format": "%Y%m%d"},
                        {"type": "sequence", "width": 3, "scope": ["region"]},
                    ],
                    "parameters": {},
                    "versions": [1],
                    "utilisation": {
                        "period": "20231015",
                        "capacity": 999,
                        "share": 0.042,
                        "partitions": [
                            {"partition": "region=SH", "issued": 42, "used": 42, "share": 0.042}
                        ],
                    },
                    "forecast": {
                        "partition": "region=SH",
                        "rate_per_hour": 150.0,
                        "exhausts_at": "2023-10-15T15:40:00Z",
                        "before_period_end": True,
                        "period_ends_at": "2023-10-15T16:00:00Z",
                        "window_seconds": 3600,
                    },
                }
            ]
        }
    )

    versions: list[int] = Field(description="Every version whose numbers still validate.")
    utilisation: UtilisationBody
    forecast: "Forecast | None" = Field(
        default=None, description="When the current period runs out; null for drawn schemes."
    )


class Forecast(BaseModel):
    """When the partition that runs out first will, at its recent issuance rate."""

    partition: str | None = Field(
        description="The partition that runs out first (the fullest, without a rate); "
        "null before anything is issued this period."
    )
    rate_per_hour: float = Field(
        description="Numbers issued per hour lately: over the window, or over the last "
        "thousand numbers when they were issued within it."
    )
    exhausts_at: datetime | None = Field(
        description="When it runs out at that rate; null when nothing was issued lately."
    )
    before_period_end: bool = Field(
        description="True if it runs out before the period ends (and so refuses to issue "
        "until then); for a scheme that never resets, if it runs out at all."
    )
    period_ends_at: datetime | None = Field(description="Null for a scheme that never resets.")
    window_seconds: int = Field(description="How far back the rate looks (CUSTID_FORECAST_WINDOW).")


class PreviewResponse(BaseModel):
    """What the next number would look like. Nothing was issued or counted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "SHA20231015043",
                    "scheme": "regional",
                    "scheme_version": 1,
                    "period": "20231015",
                    "partition": "region=SH",
                    "seq": 43,
                    "attributes": {"region": "SH"},
                }
            ]
        }
    )

    number: str
    scheme: str
    scheme_version: int
    period: Period
    partition: str
    seq: int | None = Field(description="The value after the highest stored; null if drawn.")
    attributes: dict[str, str]
