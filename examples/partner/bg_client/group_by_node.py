from typing import Annotated, Literal, Optional, Union

from pydantic import Field

from .base_model import BaseModel


class GroupByNode(BaseModel):
    node: Optional[
        Annotated[
            Union["GroupByNodeNodeNode", "GroupByNodeNodeBuyingGroup"],
            Field(discriminator="typename__"),
        ]
    ]


class GroupByNodeNodeNode(BaseModel):
    typename__: Literal[
        "Account",
        "AccountList",
        "ActivityType",
        "Alert",
        "AlertRule",
        "ApiKey",
        "BuyingGroupJob",
        "Node",
        "Person",
        "Role",
        "RoleTemplate",
        "ScoringModel",
        "SolutionInterest",
        "Stage",
        "StageModel",
        "Tenant",
        "WebhookEndpoint",
    ] = Field(alias="__typename")


class GroupByNodeNodeBuyingGroup(BaseModel):
    typename__: Literal["BuyingGroup"] = Field(alias="__typename")
    id: str
    name: str
    completeness: "GroupByNodeNodeBuyingGroupCompleteness"
    engagement: "GroupByNodeNodeBuyingGroupEngagement"


class GroupByNodeNodeBuyingGroupCompleteness(BaseModel):
    value: float


class GroupByNodeNodeBuyingGroupEngagement(BaseModel):
    value: float


GroupByNode.model_rebuild()
GroupByNodeNodeBuyingGroup.model_rebuild()
