"""Bodies of the health probes."""

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="ready, degraded or unavailable")
    checks: dict[str, str] = Field(
        examples=[{"database": "ok", "redis": "ok", "migrations": "ok"}],
        description="Each check: ok, or what is wrong.",
    )
    counter: str = Field(examples=["redis"], description="The counter backend serving now.")
