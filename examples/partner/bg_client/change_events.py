from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import BuyingGroupEventKind


class ChangeEvents(BaseModel):
    buying_group_events: "ChangeEventsBuyingGroupEvents" = Field(
        alias="buyingGroupEvents"
    )


class ChangeEventsBuyingGroupEvents(BaseModel):
    cursor: str
    kind: BuyingGroupEventKind
    occurred_at: Any = Field(alias="occurredAt")
    actor: Optional[str]
    buying_group_id: Optional[str] = Field(alias="buyingGroupId")
    previous_value: Optional[Any] = Field(alias="previousValue")
    new_value: Optional[Any] = Field(alias="newValue")
    buying_group: Optional["ChangeEventsBuyingGroupEventsBuyingGroup"] = Field(
        alias="buyingGroup"
    )
    person: Optional["ChangeEventsBuyingGroupEventsPerson"]
    role: Optional["ChangeEventsBuyingGroupEventsRole"]


class ChangeEventsBuyingGroupEventsBuyingGroup(BaseModel):
    id: str
    name: str


class ChangeEventsBuyingGroupEventsPerson(BaseModel):
    id: str
    external_id: str = Field(alias="externalId")


class ChangeEventsBuyingGroupEventsRole(BaseModel):
    id: str
    name: str


ChangeEvents.model_rebuild()
ChangeEventsBuyingGroupEvents.model_rebuild()
