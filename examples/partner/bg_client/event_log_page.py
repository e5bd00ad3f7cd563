from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import BuyingGroupEventKind


class EventLogPage(BaseModel):
    buying_group_event_log: "EventLogPageBuyingGroupEventLog" = Field(
        alias="buyingGroupEventLog"
    )


class EventLogPageBuyingGroupEventLog(BaseModel):
    page_info: "EventLogPageBuyingGroupEventLogPageInfo" = Field(alias="pageInfo")
    nodes: list["EventLogPageBuyingGroupEventLogNodes"]


class EventLogPageBuyingGroupEventLogPageInfo(BaseModel):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: Optional[str] = Field(alias="endCursor")


class EventLogPageBuyingGroupEventLogNodes(BaseModel):
    cursor: str
    kind: BuyingGroupEventKind
    buying_group_id: Optional[str] = Field(alias="buyingGroupId")
    new_value: Optional[Any] = Field(alias="newValue")


EventLogPage.model_rebuild()
EventLogPageBuyingGroupEventLog.model_rebuild()
