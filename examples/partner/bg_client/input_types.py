from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import (
    AccountListKind,
    ApiKeyScope,
    BuyingGroupEventKind,
    BuyingGroupJobKind,
    BuyingGroupJobStatus,
    BuyingGroupOrderField,
    ConditionMatch,
    ConditionOperator,
    ExportFormat,
    ExportKind,
    MemberScope,
    OrderDirection,
    RoleTemplateStatus,
    ScoringMode,
    StageComparison,
    StageKind,
    StageMetric,
    StageModelStatus,
    WebhookDeliveryState,
    WebhookEndpointStatus,
    Weighting,
)


class AccountFilterInput(BaseModel):
    search: Optional[str] = None
    "Part of the name or external id, case-insensitive."
    industries: Optional[list[str]] = None
    regions: Optional[list[str]] = None
    countries: Optional[list[str]] = None
    parent_id: Optional[str] = Field(alias="parentId", default=None)
    top_level_only: bool = Field(alias="topLevelOnly", default=False)


class AccountInput(BaseModel):
    """An account keyed by externalId; fields left out keep their value."""

    external_id: str = Field(alias="externalId")
    name: str
    parent_external_id: Optional[str] = Field(alias="parentExternalId", default=None)
    "The parent's externalId; null detaches the account."
    industry: Optional[str] = None
    region: Optional[str] = None
    country: Optional[str] = None
    annual_revenue: Optional[float] = Field(alias="annualRevenue", default=None)
    employee_count: Optional[int] = Field(alias="employeeCount", default=None)
    attributes: Optional[Any] = None
    "Free attributes (a JSON object); replaces the stored object."


class AccountListFilter(BaseModel):
    search: Optional[str] = None
    kind: Optional[AccountListKind] = None


class AcknowledgeAlertInput(BaseModel):
    id: str


class ActivateScoringModelInput(BaseModel):
    id: str


class AlertFilter(BaseModel):
    alert_rule_id: Optional[str] = Field(alias="alertRuleId", default=None)
    buying_group_id: Optional[str] = Field(alias="buyingGroupId", default=None)
    acknowledged: Optional[bool] = None
    "false: only those not acknowledged yet."
    since: Optional[Any] = None
    "Triggered at or after this time."


class AlertRuleIdInput(BaseModel):
    id: str


class AlertWhenInput(BaseModel):
    """Exactly one condition."""

    engagement_at_least: Optional[float] = Field(
        alias="engagementAtLeast", default=None
    )
    "Engagement reaches this score."
    engagement_rise: Optional["EngagementRiseInput"] = Field(
        alias="engagementRise", default=None
    )
    completeness_below: Optional[float] = Field(alias="completenessBelow", default=None)
    "Completeness falls below this score (a new group, incomplete from the start, does not fire)."
    role_emptied: Optional["RoleEmptiedInput"] = Field(
        alias="roleEmptied", default=None
    )
    stage_entered: Optional[str] = Field(alias="stageEntered", default=None)
    "The id of a Stage the group enters."


class AssignBuyingGroupMemberInput(BaseModel):
    buying_group_id: str = Field(alias="buyingGroupId")
    person_id: str = Field(alias="personId")
    role_id: str = Field(alias="roleId")


class AssignBuyingGroupMembersInput(BaseModel):
    assignments: list["MemberAssignmentInput"]
    "At most 50."


class AuditLogFilter(BaseModel):
    """Which entries; every given condition must hold."""

    actor: Optional[str] = None
    "An actor as entries name it (`api_key.<id>`, `cli`), or the global id of an API key or a job."
    kind: Optional[str] = None
    "A kind as entries name it, exactly (`createRole`)."
    since: Optional[Any] = None
    "At or after this time."


class BandsInput(BaseModel):
    """How a score's bands are drawn; exactly one."""

    fixed: Optional[bool] = None
    "true: the four bands 0 to 25, 25 to 50, 50 to 75, 75 to 100 (from the overview's running tallies: fastest)."
    bounds: Optional[list[float]] = None
    "Your own inner boundaries, ascending and above 0 (at most 9): [10, 20, 40] draws 0 to 10, 10 to 20, 20 to 40 and 40 and above."
    quantiles: Optional[int] = None
    "This many bands (2 to 10) holding about as many groups each: the tenant's own distribution, among the groups scoring above 0 (those at 0 are in the first band). Fewer when many groups share a score."


class BuyingGroupEventFilter(BaseModel):
    buying_group_ids: Optional[list[str]] = Field(alias="buyingGroupIds", default=None)
    solution_interest_ids: Optional[list[str]] = Field(
        alias="solutionInterestIds", default=None
    )
    kinds: Optional[list[BuyingGroupEventKind]] = None


class BuyingGroupFilter(BaseModel):
    search: Optional[str] = None
    "Part of the name."
    solution_interest_ids: Optional[list[str]] = Field(
        alias="solutionInterestIds", default=None
    )
    account_ids: Optional[list[str]] = Field(alias="accountIds", default=None)
    stage_ids: Optional[list[str]] = Field(alias="stageIds", default=None)
    missing_role_ids: Optional[list[str]] = Field(alias="missingRoleIds", default=None)
    "Groups missing these roles: the template has the role and it has fewer active members than required. With several ids, missingRoleMatch says whether all of them (the default) or any of them must be missing."
    missing_role_match: ConditionMatch = Field(
        alias="missingRoleMatch", default=ConditionMatch.ALL
    )
    "ALL: every role of missingRoleIds is missing; ANY: at least one is."
    completeness_score: Optional["ScoreRange"] = Field(
        alias="completenessScore", default=None
    )
    engagement_score: Optional["ScoreRange"] = Field(
        alias="engagementScore", default=None
    )
    engagement_trend: Optional["ScoreRange"] = Field(
        alias="engagementTrend", default=None
    )
    "The engagement's change over 7 days (`engagement { trend(days: 7) { change } }`; a group without a snapshot that old counts as 0)."
    status: Optional[list[str]] = None
    "Any of these statuses (case-insensitive)."


class BuyingGroupJobFilter(BaseModel):
    solution_interest_id: Optional[str] = Field(
        alias="solutionInterestId", default=None
    )
    status: Optional[BuyingGroupJobStatus] = None
    kind: Optional[BuyingGroupJobKind] = None


class BuyingGroupJobIdInput(BaseModel):
    id: str


class BuyingGroupOrder(BaseModel):
    field: BuyingGroupOrderField = BuyingGroupOrderField.NAME
    direction: OrderDirection = OrderDirection.ASC


class BuyingGroupsOverviewFilter(BaseModel):
    solution_interest_ids: Optional[list[str]] = Field(
        alias="solutionInterestIds", default=None
    )
    stage_ids: Optional[list[str]] = Field(alias="stageIds", default=None)
    industries: Optional[list[str]] = None
    regions: Optional[list[str]] = None


class ConditionGroupInput(BaseModel):
    match: ConditionMatch = ConditionMatch.ALL
    rules: list["ConditionRuleInput"]


class ConditionRuleInput(BaseModel):
    attribute: str
    "A field name (e.g. jobTitle, industry) or attributes.<key>."
    operator: ConditionOperator
    "Text comparison ignores case."
    values: list[str] = Field(default_factory=lambda: [])
    "Several values mean: any of these."


class ConfigureActivitySourceInput(BaseModel):
    base_url: str = Field(alias="baseUrl")
    "http(s), no user info or fragment; its host must resolve to public addresses unless the operator lists it in OUTBOUND_ALLOWED_HOSTS (else ADDRESS_NOT_ALLOWED)."
    client_id: str = Field(alias="clientId")
    client_secret: Optional[str] = Field(alias="clientSecret", default=None)
    "Write-only. Required unless one is stored; left out keeps the stored secret only while baseUrl and clientId stay the same (else SECRET_REQUIRED): a secret is only ever sent where it was given."
    activity_type_ids: Optional[list[int]] = Field(
        alias="activityTypeIds", default=None
    )
    check: bool = True
    "false: save without asking the source first (one that cannot be reached yet); the next sync then tells. testActivitySource asks it later."


class CopyRoleTemplateInput(BaseModel):
    id: str
    name: str


class CreateAccountListInput(BaseModel):
    name: str
    kind: AccountListKind
    description: Optional[str] = None
    account_ids: Optional[list[str]] = Field(alias="accountIds", default=None)
    "STATIC lists: the accounts."
    filter_: Optional["ConditionGroupInput"] = Field(alias="filter", default=None)
    "DYNAMIC lists: rules over name, industry, region, country, annualRevenue, employeeCount, externalId or attributes.<key>."


class CreateActivityTypeInput(BaseModel):
    name: str
    "Unique in the catalogue (case-insensitive)."
    source_type_name: Optional[str] = Field(alias="sourceTypeName", default=None)
    "The activity source's name for the type (as its activity-type list says it); left out: the same as name."
    weight: int
    "0 to 100; 0 stores the activity unscored."
    max_daily_frequency: int = Field(alias="maxDailyFrequency", default=20)
    "Daily count per person above which activities stop counting."


class CreateAlertRuleInput(BaseModel):
    name: str
    solution_interest_ids: list[str] = Field(
        alias="solutionInterestIds", default_factory=lambda: []
    )
    "The interests whose groups it watches; empty: all."
    when: "AlertWhenInput"


class CreateApiKeyInput(BaseModel):
    name: str
    scopes: list[ApiKeyScope]
    is_integration: bool = Field(alias="isIntegration", default=False)
    "For partner integrations and journeys: their buying-group membership changes are recorded with source API (below MANUAL, above SYSTEM)."


class CreateBuyingGroupsInput(BaseModel):
    solution_interest_id: str = Field(alias="solutionInterestId")
    account_list_id: str = Field(alias="accountListId")


class CreateRoleInput(BaseModel):
    name: str
    description: Optional[str] = None


class CreateRoleTemplateInput(BaseModel):
    name: str
    description: Optional[str] = None
    roles: list["RoleEntryInput"] = Field(default_factory=lambda: [])
    member_scope: MemberScope = Field(alias="memberScope", default=MemberScope.ACCOUNT)
    "Whose people its groups take: the account's (ACCOUNT) or also its sub-accounts' (ACCOUNT_AND_DESCENDANTS)."


class CreateScoringModelInput(BaseModel):
    name: str
    mode: ScoringMode = ScoringMode.COUNT
    window_days: int = Field(alias="windowDays", default=30)
    weights: list["ScoringWeightInput"] = Field(default_factory=lambda: [])
    "Overrides of the catalogue weights."


class CreateSolutionInterestInput(BaseModel):
    name: str
    role_template_id: str = Field(alias="roleTemplateId")
    description: Optional[str] = None
    products: list[str] = Field(default_factory=lambda: [])
    stage_model_id: Optional[str] = Field(alias="stageModelId", default=None)
    update_existing_buying_groups: bool = Field(
        alias="updateExistingBuyingGroups", default=False
    )


class CreateStageModelInput(BaseModel):
    name: str
    description: Optional[str] = None
    stages: list["StageInput"] = Field(default_factory=lambda: [])


class CreateWebhookEndpointInput(BaseModel):
    url: str
    "http(s); must resolve to public addresses unless the operator allows the host (OUTBOUND_ALLOWED_HOSTS)."
    kinds: Optional[list[BuyingGroupEventKind]] = None
    "The kinds to deliver; null or empty: every kind."
    description: Optional[str] = None


class DeleteAccountListInput(BaseModel):
    id: str


class DeleteBuyingGroupInput(BaseModel):
    id: str


class DeleteRoleInput(BaseModel):
    id: str


class DeleteSolutionInterestInput(BaseModel):
    id: str


class DeleteWebhookEndpointInput(BaseModel):
    id: str


class EngagementRiseInput(BaseModel):
    points: float
    "How many points engagement must rise."
    days: int
    "Within how many days (1 to 366)."


class EraseAccountInput(BaseModel):
    id: str


class ErasePersonInput(BaseModel):
    id: str


class MaintainBuyingGroupsInput(BaseModel):
    solution_interest_id: str = Field(alias="solutionInterestId")


class MemberAssignmentInput(BaseModel):
    buying_group_id: str = Field(alias="buyingGroupId")
    person_id: str = Field(alias="personId")
    role_id: str = Field(alias="roleId")


class OverviewBandsInput(BaseModel):
    engagement: Optional["BandsInput"] = None
    "Default: quantiles: 4."
    completeness: Optional["BandsInput"] = None
    "Default: fixed."


class PersonFilterInput(BaseModel):
    search: Optional[str] = None
    "Part of the name, e-mail or external id, case-insensitive."
    account_ids: Optional[list[str]] = Field(alias="accountIds", default=None)
    job_title: Optional[str] = Field(alias="jobTitle", default=None)
    "Part of the job title, case-insensitive."
    departments: Optional[list[str]] = None
    seniorities: Optional[list[str]] = None
    countries: Optional[list[str]] = None


class PersonInput(BaseModel):
    """A person keyed by externalId; fields left out keep their value."""

    external_id: str = Field(alias="externalId")
    account_external_id: str = Field(alias="accountExternalId")
    email: Optional[str] = None
    first_name: Optional[str] = Field(alias="firstName", default=None)
    last_name: Optional[str] = Field(alias="lastName", default=None)
    job_title: Optional[str] = Field(alias="jobTitle", default=None)
    department: Optional[str] = None
    seniority: Optional[str] = None
    city: Optional[str] = None
    country: Optional[str] = None
    attributes: Optional[Any] = None
    "Free attributes (a JSON object); replaces the stored object."


class PingWebhookEndpointInput(BaseModel):
    id: str


class PreviewRoleTemplateInput(BaseModel):
    template_id: Optional[str] = Field(alias="templateId", default=None)
    "A template (DRAFT or LIVE); or give `roles`."
    roles: Optional[list["RoleEntryInput"]] = None
    "A draft's roles, as createRoleTemplate takes them."
    member_scope: Optional[MemberScope] = Field(alias="memberScope", default=None)
    "The draft's scope; for a template, its own unless given."
    account_list_id: str = Field(alias="accountListId")
    sample: int = 3
    "How many example groups to show (0 to 10)."


class RecommendationInput(BaseModel):
    buying_group_id: str = Field(alias="buyingGroupId")
    role_id: str = Field(alias="roleId")
    person_id: str = Field(alias="personId")


class RedeliverWebhookEventInput(BaseModel):
    delivery_id: str = Field(alias="deliveryId")
    "A delivery's id (its `webhook-id`)."


class RefreshScoresInput(BaseModel):
    buying_group_ids: Optional[list[str]] = Field(alias="buyingGroupIds", default=None)
    "The groups to rescore; all of them when left out."


class RemoveBuyingGroupMemberInput(BaseModel):
    buying_group_id: str = Field(alias="buyingGroupId")
    person_id: str = Field(alias="personId")


class RenameBuyingGroupInput(BaseModel):
    id: str
    name: Optional[str] = None
    'At most 200 characters. A name of your own stays when the account or solution interest is renamed; null (or blank) gives the group its generated name again, "<solution interest> for <account>", which follows such renames.'


class ReplayWebhookEventsInput(BaseModel):
    endpoint_id: str = Field(alias="endpointId")
    after: Optional[str] = None
    "An event's cursor: every matching event after it is delivered again (under its first webhook-id where it had one); null: every event the log still holds."


class RevokeApiKeyInput(BaseModel):
    id: str


class RoleEmptiedInput(BaseModel):
    role_id: Optional[str] = Field(alias="roleId", default=None)
    "The role; null: any role."


class RoleEntryInput(BaseModel):
    role_id: str = Field(alias="roleId")
    weighting: Weighting = Weighting.NORMAL
    members_required: int = Field(alias="membersRequired", default=1)
    counts_toward_completeness: bool = Field(
        alias="countsTowardCompleteness", default=True
    )
    conditions: Optional["ConditionGroupInput"] = None


class RoleTemplateFilter(BaseModel):
    search: Optional[str] = None
    status: Optional[RoleTemplateStatus] = None


class RoleTemplateIdInput(BaseModel):
    id: str


class ScoreRange(BaseModel):
    """A range of scores; bounds left out are open."""

    gt: Optional[float] = None
    gte: Optional[float] = None
    lt: Optional[float] = None
    lte: Optional[float] = None


class ScoringWeightInput(BaseModel):
    activity_type_id: str = Field(alias="activityTypeId")
    weight: int


class SetBuyingGroupStageInput(BaseModel):
    buying_group_id: str = Field(alias="buyingGroupId")
    stage_id: str = Field(alias="stageId")
    override: bool = False
    "ADMIN only: move to any stage of the group's model, against its transitions (to undo a mistaken move to Won, say); recorded in the stage history as OVERRIDE."


class SetBuyingGroupStatusInput(BaseModel):
    buying_group_id: str = Field(alias="buyingGroupId")
    status: Optional[str] = None
    "At most 50 characters; null clears it."


class SetBuyingGroupsStageInput(BaseModel):
    buying_group_ids: list[str] = Field(alias="buyingGroupIds")
    "At most 100."
    stage_id: str = Field(alias="stageId")


class SolutionInterestFilter(BaseModel):
    search: Optional[str] = None
    "Part of the name, description or a product."


class StageConditionInput(BaseModel):
    """One condition of an entry rule."""

    metric: StageMetric
    operator: StageComparison
    value: float
    role_id: Optional[str] = Field(alias="roleId", default=None)
    "ROLE_MEMBERS: the role whose members are counted."


class StageEntryRuleInput(BaseModel):
    """When a group enters the stage by itself."""

    match: ConditionMatch = ConditionMatch.ALL
    conditions: list["StageConditionInput"] = Field(default_factory=lambda: [])


class StageInput(BaseModel):
    key: str
    "Stable id within the model (letters, digits, -_)."
    name: str
    kind: StageKind
    description: Optional[str] = None
    transitions_to: list[str] = Field(alias="transitionsTo", default_factory=lambda: [])
    "Keys of the next stages."
    enters_when: Optional["StageEntryRuleInput"] = Field(
        alias="entersWhen", default=None
    )
    "When a group moves here by itself, from a stage that allows the move."
    entry_rule: Optional[Any] = Field(alias="entryRule", default=None)


class StageModelFilter(BaseModel):
    search: Optional[str] = None
    status: Optional[StageModelStatus] = None


class StageModelIdInput(BaseModel):
    id: str


class StartExportInput(BaseModel):
    """What to export."""

    kind: ExportKind
    "BUYING_GROUPS: a row per group with its scores; MEMBERS: a row per membership (with the person and the role); SCORE_HISTORY: a row per group and day; EVENTS: the event log (what it still keeps, EVENT_RETENTION_DAYS)."
    format: ExportFormat = ExportFormat.CSV
    filter_: Optional["BuyingGroupFilter"] = Field(alias="filter", default=None)
    "Which groups (as buyingGroups filters them); EVENTS: the events of those groups."
    since: Optional[Any] = None
    "SCORE_HISTORY: days from this one; EVENTS: events at or after it; others: unused."


class SyncActivitiesInput(BaseModel):
    restart_from_window: bool = Field(alias="restartFromWindow", default=False)
    "Forget the saved cursors and read the whole scoring window again (nothing is counted twice)."


class UpdateAccountListInput(BaseModel):
    id: str
    name: Optional[str] = None
    description: Optional[str] = None
    account_ids: Optional[list[str]] = Field(alias="accountIds", default=None)
    "STATIC lists: replaces the accounts."
    add_account_ids: Optional[list[str]] = Field(alias="addAccountIds", default=None)
    remove_account_ids: Optional[list[str]] = Field(
        alias="removeAccountIds", default=None
    )
    filter_: Optional["ConditionGroupInput"] = Field(alias="filter", default=None)
    "DYNAMIC lists: replaces the rules."


class UpdateActivityTypeInput(BaseModel):
    id: str
    weight: Optional[int] = None
    max_daily_frequency: Optional[int] = Field(alias="maxDailyFrequency", default=None)


class UpdateAlertRuleInput(BaseModel):
    id: str
    name: Optional[str] = None
    enabled: Optional[bool] = None
    "false pauses it."


class UpdateRoleInput(BaseModel):
    id: str
    name: Optional[str] = None
    description: Optional[str] = None


class UpdateRoleTemplateInput(BaseModel):
    id: str
    name: Optional[str] = None
    description: Optional[str] = None
    roles: Optional[list["RoleEntryInput"]] = None
    "Replaces the whole ordered list when given."
    member_scope: Optional[MemberScope] = Field(alias="memberScope", default=None)


class UpdateScoringModelInput(BaseModel):
    id: str
    name: Optional[str] = None
    mode: Optional[ScoringMode] = None
    window_days: Optional[int] = Field(alias="windowDays", default=None)
    weights: Optional[list["ScoringWeightInput"]] = None
    "Replaces all overrides."


class UpdateSolutionInterestInput(BaseModel):
    id: str
    name: Optional[str] = None
    description: Optional[str] = None
    products: Optional[list[str]] = None
    stage_model_id: Optional[str] = Field(alias="stageModelId", default=None)
    update_existing_buying_groups: Optional[bool] = Field(
        alias="updateExistingBuyingGroups", default=None
    )
    role_template_id: Optional[str] = Field(alias="roleTemplateId", default=None)
    "Cannot change after creation; given only to be refused."


class UpdateStageModelInput(BaseModel):
    id: str
    name: Optional[str] = None
    description: Optional[str] = None
    stages: Optional[list["StageInput"]] = None
    "Replaces every stage when given."


class UpdateTenantSettingsInput(BaseModel):
    time_zone: Optional[str] = Field(alias="timeZone", default=None)
    "An IANA name (Europe/Stockholm): where the tenant's days begin, for the activity rollup, the scoring window and daily snapshots."


class UpdateWebhookEndpointInput(BaseModel):
    id: str
    url: Optional[str] = None
    kinds: Optional[list[BuyingGroupEventKind]] = None
    "Replaces the kinds; an empty list: every kind."
    description: Optional[str] = None
    status: Optional[WebhookEndpointStatus] = None
    "ACTIVE enables a disabled endpoint again (its failure count starts afresh; replayWebhookEvents sends what it missed)."


class UpsertAccountsInput(BaseModel):
    accounts: list["AccountInput"]


class UpsertPeopleInput(BaseModel):
    people: list["PersonInput"]


class WebhookDeliveryFilter(BaseModel):
    states: Optional[list[WebhookDeliveryState]] = None
    "Only deliveries in these states."


AlertWhenInput.model_rebuild()
AssignBuyingGroupMembersInput.model_rebuild()
BuyingGroupFilter.model_rebuild()
ConditionGroupInput.model_rebuild()
CreateAccountListInput.model_rebuild()
CreateAlertRuleInput.model_rebuild()
CreateRoleTemplateInput.model_rebuild()
CreateScoringModelInput.model_rebuild()
CreateStageModelInput.model_rebuild()
OverviewBandsInput.model_rebuild()
PreviewRoleTemplateInput.model_rebuild()
RoleEntryInput.model_rebuild()
StageEntryRuleInput.model_rebuild()
StageInput.model_rebuild()
StartExportInput.model_rebuild()
UpdateAccountListInput.model_rebuild()
UpdateRoleTemplateInput.model_rebuild()
UpdateScoringModelInput.model_rebuild()
UpdateStageModelInput.model_rebuild()
UpsertAccountsInput.model_rebuild()
UpsertPeopleInput.model_rebuild()
