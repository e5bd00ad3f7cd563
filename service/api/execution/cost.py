"""What an operation may cost, computed from the document before anything runs (the GitHub and
Shopify model): every field costs 1; a connection costs `first` times its selection; a list
costs its bound times its selection. A list without a known bound is not allowed: every list of
objects in the schema has one below (a test checks), or takes `first`/`last`.

The actual cost is the same sum over what was returned: connections and lists count the items
they held, so a page of 3 costs 3 times its selection although 100 were asked for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from service.domain.records import MAX_BATCH

# A template holds at most 26 roles (six defaults and 20 custom ones); its role lists are
# priced as 10, the usual upper end: at 26 the engagement explanation of one group would be
# priced out of reach while it is computed in memory from rows already read.
ROLES = 10
# Stages of a model, solution interests and activity types are small catalogues; their lists
# are priced as if this long.
CATALOGUE = 50

# Costs saturate here (2^53 - 1, the largest integer a JavaScript client reads exactly): three
# levels of `first: 2147483647` would otherwise be priced at 10^28, a number JSON encoders
# refuse.
COST_CEILING = 2**53 - 1

# (type, field) -> how many items the list holds at most: a number, or the argument that says.
LIST_SIZES: dict[tuple[str, str], int | str] = {
    ("Account", "buyingGroups"): "first",
    ("Person", "buyingGroupMemberships"): "first",
    ("BuyingGroup", "roles"): ROLES,
    ("BuyingGroup", "missingRoles"): ROLES,
    ("BuyingGroup", "stageHistory"): "last",
    ("BuyingGroup", "scoreHistory"): "days",
    ("BuyingGroupRole", "members"): "first",
    ("RoleTemplate", "roles"): ROLES,
    ("BuyingGroupsOverview", "bySolutionInterest"): CATALOGUE,
    ("BuyingGroupsOverview", "byStage"): CATALOGUE,
    ("BuyingGroupsOverview", "completenessBands"): 4,
    ("BuyingGroupsOverview", "engagementBands"): 4,
    ("BuyingGroupsOverview", "roleCoverage"): ROLES,
    ("BuyingGroupsOverview", "topEngaged"): 20,
    ("BuyingGroupsOverview", "stagnant"): 20,
    # At most MAX_RULES (50), priced as 10: conditions hold a few rules, and a template of 26
    # roles with 50 rules each would price every template listing out of reach.
    ("ConditionGroupType", "rules"): 10,
    ("MemberAssignment", "conditionResults"): 10,  # a role's rules, as above
    ("MemberRecommendation", "reasons"): 10,  # a role's rules, as above
    ("AssignBuyingGroupMembersPayload", "members"): 50,  # MAX_ASSIGNMENTS
    ("SetBuyingGroupsStagePayload", "buyingGroups"): 100,  # MAX_STAGE_MOVES
    ("EngagementScore", "breakdown"): ROLES,
    # The explanation of one group's score, computed in memory: members per role, activity
    # types per member and days per type (the window, 30 days unless a model says more).
    ("EngagementRole", "members"): 4,
    ("EngagementMember", "activities"): 10,
    ("EngagementActivity", "days"): 30,
    ("ScoringModel", "weights"): CATALOGUE,
    ("Stage", "nextStages"): CATALOGUE,
    ("Query", "nodes"): "ids",
    ("Query", "webhookEndpoints"): 20,  # service/api/webhooks.py: MAX_ENDPOINTS
    ("Query", "alertRules"): 100,  # service/usecases/alerts.py: MAX_RULES
    ("WebhookDelivery", "attemptLog"): 50,  # service/api/webhook_deliveries.py
    ("StageEntryRule", "conditions"): 10,  # a rule's conditions, as a role's rules
    ("AuditEntry", "subjects"): 20,  # service/store/audit.py: MAX_SUBJECTS
    ("ErasurePayload", "erasedPersonIds"): 100,  # an account's people, priced as 100
    ("AlertRule", "solutionInterests"): CATALOGUE,
    ("StageModel", "stages"): CATALOGUE,
    ("UpsertAccountsPayload", "accounts"): MAX_BATCH,
    ("UpsertPeoplePayload", "people"): MAX_BATCH,
    ("RoleTemplatePreview", "completenessBands"): 4,
    ("RoleTemplatePreview", "roles"): ROLES,
    ("RoleTemplatePreview", "sample"): 10,  # service/usecases/preview.py: MAX_SAMPLE
    ("PreviewGroup", "members"): 50,  # service/api/preview.py: MAX_SAMPLE_MEMBERS
    ("PreviewMember", "reasons"): 10,  # a role's rules, as above
}

# Fields that cost more than their selection: they read a whole audience (priced as this many
# fields, on top of what they return).
FIELD_WEIGHTS: dict[tuple[str, str], int] = {
    ("Query", "previewRoleTemplate"): 1_000,
}


_COMPOSITE = (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)


def _fields_of(type_: Any) -> dict[str, Any]:
    """A type's fields; a union has none of its own (only fragments select on it)."""
    return type_.fields if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType) else {}


def _unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def is_connection(type_: GraphQLOutputType) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and \
        "pageInfo" in named.fields


class _Walk:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = defaults
        self._plans: dict[tuple[int, Any], _Plan] = {}
        self._counters: dict[int, _Count] = {}

    def _fields(self, selection_set: SelectionSetNode, parent: Any,
                seen: frozenset[str] = frozenset()) -> list[tuple[FieldNode, Any]]:
        """The fields selected on `parent`, fragments spread in (each fragment once per path:
        a cycle is a validation error reported elsewhere)."""
        found: list[tuple[FieldNode, Any]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                found += self._fields(selection.selection_set, self._condition(
                    selection.type_condition.name.value if selection.type_condition else None,
                    parent), seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    found += self._fields(fragment.selection_set, self._condition(
                        fragment.type_condition.name.value, parent), seen | {name})
        return found

    def _condition(self, name: str | None, parent: Any) -> Any:
        type_ = self.schema.get_type(name) if name else None
        # On an interface or union the fragment's own fields are priced on the concrete type.
        return type_ if isinstance(type_, _COMPOSITE) else parent

    def _int_argument(self, parent: Any, node: FieldNode, name: str) -> int:
        """An argument's value as a count: the literal, the variable's value, or the default
        (`first`, `last` and `days` are Int; `ids` a list, counted by its length)."""
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return _count(int(value.value))
            if isinstance(value, ListValueNode):
                return len(value.values)
            if isinstance(value, VariableNode):
                return _count(self.variables.get(value.name.value, self.defaults.get(
                    value.name.value)))
            return 0
        field = _fields_of(parent).get(node.name.value)
        arg = field.args.get(name) if field is not None else None
        return _count(_default(arg)) if arg is not None else 0

    def requested(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None or not isinstance(parent, _COMPOSITE):
            return 0
        total = 0
        for node, owner in self._fields(selection_set, parent):
            field = _fields_of(owner).get(node.name.value)
            if field is None:
                total += 1  # __typename, or a field validation will refuse
                continue
            inner = self.requested(node.selection_set, get_named_type(field.type))
            total = min(COST_CEILING, total + 1 + FIELD_WEIGHTS.get(
                (owner.name, node.name.value), 0) + self._size(owner, node, field.type) * inner)
        return total

    def _size(self, owner: Any, node: FieldNode, type_: GraphQLOutputType) -> int:
        """How many times the field's selection is priced."""
        if is_connection(type_):
            return self._int_argument(owner, node, "first")
        if isinstance(_unwrap(type_), GraphQLList):
            if owner.name.endswith("Connection") and node.name.value in ("edges", "nodes"):
                return 1  # the connection counted its page
            bound = LIST_SIZES.get((owner.name, node.name.value), 1)
            if isinstance(bound, str):
                return self._int_argument(owner, node, bound)
            return bound
        return 1

    def actual(self, selection_set: SelectionSetNode | None, parent: Any, data: Any) -> int:
        """The same sum over the returned data: lists count their items."""
        if selection_set is None or not isinstance(parent, _COMPOSITE) or data is None:
            return 0
        return self._counter(self._plan(selection_set, parent))(data)

    def _plan(self, selection_set: SelectionSetNode, parent: Any) -> _Plan:
        """What `actual` looks for in each object of this selection: worked out once per
        selection, not once per returned object (a page holds thousands)."""
        key = (id(selection_set), parent)
        plan = self._plans.get(key)
        if plan is None:
            plan = []
            for node, owner in self._fields(selection_set, parent):
                field = _fields_of(owner).get(node.name.value)
                inner = node.selection_set
                type_ = get_named_type(field.type) if field is not None else None
                if field is None or inner is None or not isinstance(type_, _COMPOSITE):
                    step: _Step = (_key(node), _LEAF, None)
                elif is_connection(field.type):
                    step = (_key(node), _CONNECTION, self._connection_plan(inner, type_))
                else:
                    step = (_key(node), _OBJECT, self._plan(inner, type_))
                plan.append(step)
            self._plans[key] = plan
        return plan

    def _connection_plan(self, selection_set: SelectionSetNode, connection: Any) -> _Plan:
        plan: _Plan = []
        for node, owner in self._fields(selection_set, connection):
            field = _fields_of(owner).get(node.name.value)
            type_ = get_named_type(field.type) if field is not None else None
            inner = (self._plan(node.selection_set, type_) if node.selection_set is not None
                     and isinstance(type_, _COMPOSITE) else [])
            kind = _ITEMS if node.name.value in ("edges", "nodes") else _OBJECT
            plan.append((_key(node), kind, inner))
        return plan

    def _counter(self, plan: _Plan) -> _Count:
        """The plan as a function of one returned value (an object, a list of them, or null):
        each field present counts 1, and an object's or a connection's selection adds what it
        held. Made once per plan, so that each of a page's thousands of objects costs one
        call. A field selected twice under one key counts twice, as `requested` prices it."""
        made = self._counters.get(id(plan))
        if made is not None:
            return made
        leaves = tuple(key for key, _, inner in plan if inner is None)
        leaf_set, leaf_count = frozenset(leaves), len(leaves)
        nested = [(key, self._connection_counter(inner) if kind is _CONNECTION
                   else self._counter(inner)) for key, kind, inner in plan if inner is not None]

        # Every leaf is there unless skipped (@skip, or another type's fragment). A counter
        # takes one object; lists go through _listed, so that no counter refers to itself (a
        # closure that does is a reference cycle, left to the cycle collector every request).
        def count(data: Any) -> int:
            if type(data) is not dict and not isinstance(data, dict):
                return 0
            total = leaf_count if leaf_set <= data.keys() else sum(k in data for k in leaves)
            for key, inner in nested:
                if key in data:
                    value = data[key]
                    total += 1 if value is None else 1 + (
                        _listed(inner, value) if isinstance(value, list) else inner(value))
            return total

        def count_leaves(data: Any) -> int:  # the same for a selection of leaves alone
            if type(data) is not dict and not isinstance(data, dict):
                return 0
            return leaf_count if leaf_set <= data.keys() else sum(k in data for k in leaves)

        made = count if nested else count_leaves
        self._counters[id(plan)] = made
        return made

    def _connection_counter(self, plan: _Plan) -> _Count:
        """A connection's selection priced per item returned, as `requested` prices it per
        item asked for (`first`)."""
        item_keys = [key for key, kind, _ in plan if kind is _ITEMS]
        steps = [(key, kind is _ITEMS, self._counter(inner), bool(inner))
                 for key, kind, inner in plan]

        def count(value: Any) -> int:
            if not isinstance(value, dict):
                return 0
            items = 0
            for key in item_keys:
                returned = value.get(key)
                if isinstance(returned, list):
                    items = max(items, len(returned))
            total = 0
            for key, is_items, inner, selects in steps:
                if key not in value:
                    continue
                returned = value[key]
                if is_items and isinstance(returned, list):
                    total += len(returned) + _listed(inner, returned)
                elif returned is not None and selects:
                    total += items * (1 + (_listed(inner, returned)
                                           if isinstance(returned, list) else inner(returned)))
                else:
                    total += items
            return total

        return count


# A plan step: the answer's key, what kind of field it is, and the plan of its selection.
_LEAF, _OBJECT, _CONNECTION, _ITEMS = "leaf", "object", "connection", "items"
_Step = tuple[str, str, Any]
_Plan = list[_Step]
_Count = Callable[[Any], int]


def _listed(count: _Count, items: list[Any]) -> int:
    """A counter's sum over a list (of objects, nulls or lists again)."""
    total = 0
    for item in items:
        total += _listed(count, item) if isinstance(item, list) else count(item)
    return total


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _default(arg: Any) -> Any:
    """An argument's default: strawberry's schema holds it as a value, a schema built from
    SDL as a literal."""
    if isinstance(arg.default_value, int):
        return arg.default_value
    literal = getattr(getattr(arg, "default", None), "literal", None)
    return int(literal.value) if isinstance(literal, IntValueNode) else None


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    return value if isinstance(value, int) and value > 0 else 0


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


class Pricing:
    """One operation of a document, ready to be priced before it runs and after (its fragments
    and variable defaults read once)."""

    def __init__(self, schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode,
                 variables: Mapping[str, Any] | None) -> None:
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        defaults = {d.variable.name.value: int(d.default_value.value)
                    for d in operation.variable_definitions or ()
                    if isinstance(d.default_value, IntValueNode)}
        self._walk = _Walk(schema, fragments, variables or {}, defaults)
        self._selection = operation.selection_set
        self._root = schema.get_root_type(operation.operation)

    @classmethod
    def of(cls, schema: GraphQLSchema, document: Any, operation_name: str | None = None,
           variables: Mapping[str, Any] | None = None) -> Pricing | None:
        """None when the document names no single operation."""
        operation = _operation(document, operation_name)
        return cls(schema, document, operation, variables) if operation is not None else None

    def requested(self) -> int:
        return self._walk.requested(self._selection, self._root)

    def actual(self, data: Any) -> int:
        return self._walk.actual(self._selection, self._root, data)


def requested_cost(schema: GraphQLSchema, document: Any, operation_name: str | None = None,
                   variables: Mapping[str, Any] | None = None) -> int:
    """The most the operation can cost; 0 when the document names no single operation."""
    pricing = Pricing.of(schema, document, operation_name, variables)
    return pricing.requested() if pricing is not None else 0


