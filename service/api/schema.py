"""The schema assembly: root types, limits, error masking and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from functools import partial

import strawberry
from strawberry import relay
from strawberry.extensions import (
    MaskErrors,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import get_object_definition

from graphql import GraphQLError
from service.api.account_lists import AccountList, AccountListMutations, account_lists
from service.api.accounts import Account, AccountMutations, account, accounts
from service.api.activity_sources import ActivitySourceMutations
from service.api.alerts import Alert, AlertMutations, AlertRule, alert_rules, alerts
from service.api.api_keys import ApiKey, ApiKeyMutations, api_keys
from service.api.audit import AuditEntry, audit_log
from service.api.bulk_group_mutations import BulkGroupMutations
from service.api.buying_group_browse import buying_groups
from service.api.buying_group_mutations import BuyingGroupMutations
from service.api.buying_groups import BuyingGroup
from service.api.context import OperationContext
from service.api.engagement import ActivitySync, EngagementMutations, activity_sync
from service.api.erasure import ErasureMutations
from service.api.errors import (
    RETRY_AFTER_OVERLOAD_SECONDS,
    ErrorCode,
    answer_with,
    ensure_code,
    is_client_error,
    operational_error,
)
from service.api.execution.charges import CostLimit
from service.api.execution.document_cache import DocumentCache, Documents
from service.api.execution.engine import Schema, limits
from service.api.execution.lookahead import install_lean_resolvers
from service.api.execution.multiplex import MultiplexingExecutionContext
from service.api.execution.traced import Traced
from service.api.execution.values import SCALARS, TextScreen
from service.api.execution.written_out import DocumentWeight
from service.api.exports import ExportMutations
from service.api.jobs import BuyingGroupJob, JobMutations, buying_group_jobs
from service.api.lookups import person, role, solution_interest
from service.api.overview import BuyingGroupsOverview, buying_groups_overview
from service.api.pagination import Connection, check_first
from service.api.people import Person, PersonMutations, people
from service.api.preview import RoleTemplatePreviewPayload, preview_role_template
from service.api.recommendation_mutations import RecommendationMutations
from service.api.role_templates import RoleTemplate, RoleTemplateMutations, role_templates
from service.api.roles import Role, RoleMutations, roles
from service.api.scoring import (
    ActivityType,
    ScoringModel,
    ScoringMutations,
    activity_types,
    scoring_models,
)
from service.api.solution_interests import (
    SolutionInterest,
    SolutionInterestMutations,
    solution_interests,
)
from service.api.stages import Stage, StageModel, StageMutations, stage_models
from service.api.subscriptions import BuyingGroupEvent, Subscription, buying_group_event_log
from service.api.viewer import Tenant, TenantMutations, Viewer, resolve_viewer
from service.api.webhook_deliveries import (
    WebhookDebugMutations,
    WebhookDelivery,
    webhook_deliveries,
)
from service.api.webhooks import WebhookEndpoint, WebhookMutations, webhook_endpoints
from service.infra import tracing
from service.infra.config import Settings, get_settings
from service.infra.metrics import OperationMetrics, StatementCount

log = logging.getLogger("service.api")

MASKED_MESSAGE = "Internal server error; it was logged with request id {request_id}."


async def resolve_node(info: strawberry.Info, id: relay.GlobalID) -> relay.Node | None:
    # Not relay.node(): that field can belong to one schema only, and tests build several.
    # An id naming a type that is no node (or no type) names nothing: null, like an id of
    # another tenant's object.
    if id.type_name not in NODE_TYPE_NAMES:
        return None
    node: relay.Node | None = await id.resolve_node(info, required=False)
    return node


@strawberry.type
class Query:
    @strawberry.field(
        description="Any object by its global id; null when it does not exist for this tenant."
    )
    async def node(self, info: strawberry.Info, id: relay.GlobalID) -> relay.Node | None:
        return await resolve_node(info, id)

    @strawberry.field(
        description="Several objects by global id (at most 100), in the order asked; null for "
        "each that does not exist for this tenant."
    )
    async def nodes(self, info: strawberry.Info, ids: list[relay.GlobalID]
                    ) -> list[relay.Node | None]:
        check_first(len(ids), info.context.settings.max_page_size, "ids")
        # Resolved side by side: each type's DataLoader reads its ids in one statement.
        return list(await asyncio.gather(*(resolve_node(info, gid) for gid in ids)))

    @strawberry.field(description="The caller: tenant and scopes of the API key in use.")
    def viewer(self, info: strawberry.Info) -> Viewer:
        return resolve_viewer(info)

    accounts: Connection[Account] = strawberry.field(
        resolver=accounts, description="Accounts by name; filter by text, industry, region, …"
    )
    account: Account | None = strawberry.field(
        resolver=account, description="One account by global id or by externalId."
    )
    person: Person | None = strawberry.field(
        resolver=person, description="One person by global id or by externalId.")
    role: Role | None = strawberry.field(
        resolver=role, description="One role by global id or by name (without case).")
    solution_interest: SolutionInterest | None = strawberry.field(
        resolver=solution_interest,
        description="One solution interest by global id or by name (without case).")
    people: Connection[Person] = strawberry.field(
        resolver=people, description="People by last then first name."
    )
    buying_groups: Connection[BuyingGroup] = strawberry.field(
        resolver=buying_groups,
        description="Buying groups, filtered and ordered (by name unless told otherwise).",
    )
    buying_groups_overview: BuyingGroupsOverview = strawberry.field(
        resolver=buying_groups_overview,
        description="Dashboard figures over the groups matching the filter.",
    )
    buying_group_jobs: Connection[BuyingGroupJob] = strawberry.field(
        resolver=buying_group_jobs, description="Buying-group jobs, newest first."
    )
    account_lists: Connection[AccountList] = strawberry.field(
        resolver=account_lists, description="Audiences by name."
    )
    stage_models: Connection[StageModel] = strawberry.field(
        resolver=stage_models, description="Stage models by name."
    )
    roles: Connection[Role] = strawberry.field(
        resolver=roles, description="The role catalogue: six default roles, then custom ones."
    )
    role_templates: Connection[RoleTemplate] = strawberry.field(
        resolver=role_templates, description="Role templates by name."
    )
    preview_role_template: RoleTemplatePreviewPayload = strawberry.field(
        resolver=preview_role_template, description=(
            "What a template, or a draft of one, would make of an audience: the groups, their "
            "completeness, each role's fill rate, example groups. Writes nothing."))
    solution_interests: Connection[SolutionInterest] = strawberry.field(
        resolver=solution_interests, description="Solution interests by name."
    )
    activity_types: Connection[ActivityType] = strawberry.field(
        resolver=activity_types, description="The activity-type catalogue, by name."
    )
    scoring_models: Connection[ScoringModel] = strawberry.field(
        resolver=scoring_models, description="Scoring model versions, newest first."
    )
    activity_sync: ActivitySync = strawberry.field(
        resolver=activity_sync, description="Activity sync state of this tenant."
    )
    api_keys: Connection[ApiKey] = strawberry.field(
        resolver=api_keys,
        description="This tenant's API keys, oldest first (ADMIN scope).",
    )
    webhook_endpoints: list[WebhookEndpoint] = strawberry.field(
        resolver=webhook_endpoints,
        description="Where this tenant's events are POSTed, oldest first (ADMIN scope).",
    )
    webhook_deliveries: Connection[WebhookDelivery] = strawberry.field(
        resolver=webhook_deliveries, description=(
            "An endpoint's deliveries, newest event first, each with every attempt (ADMIN "
            "scope): what it was sent, what it answered, when it is tried again."))
    alert_rules: list[AlertRule] = strawberry.field(
        resolver=alert_rules, description="The tenant's alert rules, by name.")
    alerts: Connection[Alert] = strawberry.field(
        resolver=alerts, description="Alerts the rules fired, newest first.")
    audit_log: Connection[AuditEntry] = strawberry.field(
        resolver=audit_log, description=(
            "Who changed what, newest first (ADMIN scope): one entry per change, in the name "
            "of its API key, `cli` or job; kept AUDIT_RETENTION_DAYS."))
    buying_group_event_log: Connection[BuyingGroupEvent] = strawberry.field(
        resolver=buying_group_event_log, description=(
            "The tenant's change events, oldest first, for partners that poll over HTTP: the "
            "same events buyingGroupEvents delivers live. Go on from pageInfo.endCursor; the "
            "log keeps EVENT_RETENTION_DAYS (a cursor older than that: CURSOR_EXPIRED)."),
    )


@strawberry.type
class Mutation(
    AccountMutations,
    PersonMutations,
    AccountListMutations,
    RoleMutations,
    RoleTemplateMutations,
    SolutionInterestMutations,
    JobMutations,
    BuyingGroupMutations,
    BulkGroupMutations,
    RecommendationMutations,
    ErasureMutations,
    ExportMutations,
    ActivitySourceMutations,
    WebhookDebugMutations,
    StageMutations,
    EngagementMutations,
    ScoringMutations,
    ApiKeyMutations,
    WebhookMutations,
    AlertMutations,
    TenantMutations,
):
    pass


class MaskInternalErrors(MaskErrors):
    """Every error leaves with a code: the caller's mistakes with the most precise one known
    (a syntax error, a failed validation, a refused value, ...), anything else masked as
    INTERNAL_SERVER_ERROR with the request id that is in the log."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not is_client_error(e))

    def on_parse(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            ensure_code(error, ErrorCode.GRAPHQL_PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            ensure_code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED)

    def _process_result(self, result: object) -> None:
        # The base class asks isinstance() of a runtime Protocol, which costs more than the
        # rest of a subscription event's delivery; every result here has `errors`.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        told = [operational_error(e) or e for e in errors]
        processed = super()._process_errors(told)
        for error in processed:  # e.g. a variable's value that does not fit its type
            ensure_code(error, ErrorCode.BAD_USER_INPUT)
        if any(e.extensions.get("code") == ErrorCode.SERVICE_UNAVAILABLE.value
               for e in processed if e.extensions):
            answer_with(self.execution_context.context, 503,
                        retry_after=RETRY_AFTER_OVERLOAD_SECONDS)
        return processed

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", "-")
        return GraphQLError(
            MASKED_MESSAGE.format(request_id=request_id),
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


# Node types reachable only through node(id:) must be named for the schema to know them.
NODE_TYPES = [
    Tenant, ApiKey, BuyingGroupJob, Account, Person, AccountList, Role, RoleTemplate,
    SolutionInterest, ActivityType, ScoringModel, BuyingGroup, StageModel, Stage,
    WebhookEndpoint, AlertRule, Alert,
]
NODE_TYPE_NAMES = frozenset(get_object_definition(t, strict=True).name for t in NODE_TYPES)


def build_schema(settings: Settings | None = None, documents: Documents | None = None
                 ) -> Schema:
    """The schema; `documents`: where it keeps the documents it validated (its own when
    left out), which the HTTP edge reads to tell a new document from a known one."""
    settings = settings or get_settings()
    # Factories, not instances: strawberry builds the extensions anew for every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        OperationContext,
        partial(DocumentCache, documents if documents is not None else Documents()),
        TextScreen,
        partial(DocumentWeight, settings.max_fields),
        limits(settings),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        CostLimit,
        MaskInternalErrors,
        OperationMetrics,
    ]
    if tracing.enabled():
        extensions.insert(0, Traced)
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    if settings.expose_sql_statements:
        extensions.append(StatementCount)
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=MultiplexingExecutionContext,
    )
    install_lean_resolvers(built._schema)
    return built


schema = build_schema(Settings())
