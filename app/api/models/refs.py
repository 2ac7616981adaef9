"""Bodies of the refs routes: the ids other systems know a number by."""

from pydantic import BaseModel, ConfigDict

from app.api.models.fields import Operator, RefId, RefSystem


class NewRef(BaseModel):
    """A ref to give a number: {system, id}."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"system": "crm", "id": "acct-991"}]}
    )

    system: RefSystem
    id: RefId


class RefAddition(NewRef):
    """Give a number one more ref."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"system": "erp", "id": "C-100234", "operator": "SALES-0042"}]
        },
    )

    operator: Operator | None = None
