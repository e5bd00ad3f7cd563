"""Solution interests: what a tenant sells, each with the LIVE role template its buying groups
follow and, optionally, the LIVE stage model they move through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from service.domain.names import name_problems
from service.domain.problems import Problem
from service.store import buying_groups as group_store
from service.store import role_templates as template_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.store.jobs import Job, JobKind
from service.store.solution_interests import SolutionInterest
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

MAX_PRODUCTS = 50
MAX_PRODUCT = 200
# What an id of another kind decodes to: nothing has it, so it reads as unknown.
NO_ID = UUID(int=0)


def _products(products: Sequence[str]) -> tuple[list[str], list[Problem]]:
    cleaned: list[str] = []
    problems = []
    if len(products) > MAX_PRODUCTS:
        problems.append(Problem(("products",), "TOO_MANY_ITEMS",
                                f"at most {MAX_PRODUCTS} products"))
    for i, product in enumerate(products):
        text = product.strip()
        if not text:
            problems.append(Problem(("products", i), "REQUIRED",
                                    "a product name cannot be empty"))
        elif len(text) > MAX_PRODUCT:
            problems.append(Problem(("products", i), "TOO_LONG",
                                    f"a product name is at most {MAX_PRODUCT} characters"))
        elif text not in cleaned:
            cleaned.append(text)
    return cleaned, problems


async def _stage_model(work: UnitOfWork, model_id: UUID | None
                       ) -> tuple[UUID | None, list[Problem]]:
    if model_id is None:
        return None, []
    model = (await stage_store.models_by_ids(work.conn, [model_id])).get(model_id)
    if model is None:
        return None, [Problem(("stageModelId",), "NOT_FOUND", "no such stage model")]
    if model.status != "LIVE":
        return None, [Problem(("stageModelId",), "STAGE_MODEL_NOT_LIVE",
                              f"publish {model.name!r} first")]
    return model.id, []


async def create_interest(work: UnitOfWork, *, name: str, description: str | None,
                          products: Sequence[str], role_template_id: UUID,
                          stage_model_id: UUID | None, update_existing: bool
                          ) -> Change[SolutionInterest]:
    problems = name_problems(name)
    cleaned, product_problems = _products(products)
    problems += product_problems
    template = await template_store.get_template(work.conn, role_template_id)
    if template is None:
        problems.append(Problem(("roleTemplateId",), "NOT_FOUND", "no such role template"))
    elif template.status != "LIVE":
        problems.append(Problem(("roleTemplateId",), "TEMPLATE_NOT_LIVE",
                                f"publish {template.name!r} first: a solution interest needs "
                                "a LIVE template"))
    model_id, stage_problems = await _stage_model(work, stage_model_id)
    problems += stage_problems
    if problems or template is None:
        return applied(work, Change(problems=problems))
    try:
        return Change(await interest_store.create_interest(
            work.conn, work.tenant_id, name=name.strip(), description=description,
            products=cleaned, role_template_id=template.id, stage_model_id=model_id,
            update_existing=update_existing))
    except interest_store.NameTaken:
        return applied(work, refused("name", "DUPLICATE",
                                     f"a solution interest named {name.strip()!r} exists"))


@dataclass(frozen=True)
class InterestChanged:
    interest: SolutionInterest
    restaging: Job | None  # puts the groups in the stages of a new model, or out of them


async def update_interest(work: UnitOfWork, interest_id: UUID, given: Mapping[str, Any]
                          ) -> Change[InterestChanged]:
    """Change what `given` names: name, description, products, updateExistingBuyingGroups,
    stageModelId (None detaches it); roleTemplateId only as it is (IMMUTABLE otherwise). A new
    stage model (or none) starts a job that moves the existing groups accordingly: into its
    entry stage (then its entry rules), or out of any stage, their history kept."""
    current = (await interest_store.interests_by_ids(work.conn, [interest_id])).get(interest_id)
    if current is None:
        return applied(work, refused("id", "NOT_FOUND", "no such solution interest"))
    problems: list[Problem] = []
    changes: dict[str, Any] = {}
    if "roleTemplateId" in given and given["roleTemplateId"] != current.role_template_id:
        problems.append(Problem(("roleTemplateId",), "IMMUTABLE",
                                "the role template of a solution interest never changes; "
                                "create a new solution interest instead"))
    if "name" in given:
        problems += name_problems(given["name"] or "")
        changes["name"] = (given["name"] or "").strip()
    if "description" in given:
        changes["description"] = given["description"]
    if "products" in given:
        changes["products"], product_problems = _products(given["products"] or [])
        problems += product_problems
    if "updateExistingBuyingGroups" in given:
        changes["update_existing_buying_groups"] = bool(given["updateExistingBuyingGroups"])
    if "stageModelId" in given:
        changes["stage_model_id"], stage_problems = await _stage_model(
            work, given["stageModelId"])
        problems += stage_problems
    if problems:
        return applied(work, Change(problems=problems))
    try:
        row = await interest_store.update_interest(work.conn, interest_id, changes)
    except interest_store.NameTaken:
        return applied(work, refused("name", "DUPLICATE",
                                     f"a solution interest named {changes['name']!r} exists"))
    assert row is not None
    if "name" in changes:  # generated group names follow
        await group_store.follow_renames(work.conn, work.tenant_id, interest_ids=[row.id])
    restaging = None
    if row.stage_model_id != current.stage_model_id:  # the groups follow, in a job
        restaging, _ = await work.start_job(JobKind.APPLY_STAGE_MODEL,
                                            {"solution_interest_id": str(row.id)},
                                            solution_interest_id=row.id)
    return Change(InterestChanged(row, restaging))


async def delete_interest(work: UnitOfWork, interest_id: UUID) -> Change[UUID]:
    """Refused while buying groups or jobs use it."""
    try:
        deleted = await interest_store.delete_interest(work.conn, interest_id)
    except interest_store.InUse:
        return applied(work, refused("id", "IN_USE", "buying groups or jobs use this solution "
                                     "interest; delete them first"))
    if not deleted:
        return applied(work, refused("id", "NOT_FOUND", "no such solution interest"))
    return Change(interest_id)
