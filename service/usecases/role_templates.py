"""Role templates: which roles a buying group needs, how each weighs and who fills it by rule.
A DRAFT template may change; publishing makes it LIVE and fixed (copy it to change it)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from service.domain.lifecycle import draft_problem
from service.domain.names import name_problems
from service.domain.problems import Problem
from service.domain.templates import Entry, EntryInput, check_entries
from service.store import role_templates as template_store
from service.store import roles as role_store
from service.store.role_templates import RoleTemplate
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

WHAT = "role template"
ADVICE = "copy it to make changes"


async def _entries(work: UnitOfWork, entries: Sequence[EntryInput]
                   ) -> tuple[list[Entry], list[Problem]]:
    """The entries, with roles that are not this tenant's read as unknown ones."""
    known = await role_store.roles_by_ids(
        work.conn, [e.role_id for e in entries if e.role_id is not None])
    checked, problems = check_entries([
        e if e.role_id in known else EntryInput(None, e.weighting, e.members_required,
                                                e.counts_toward_completeness, e.conditions)
        for e in entries])
    return checked, [p.under("roles") for p in problems]


def _taken(name: str) -> Change[RoleTemplate]:
    return refused("name", "DUPLICATE", f"a role template named {name!r} exists")


async def _draft(work: UnitOfWork, template_id: UUID, action: str) -> Change[RoleTemplate]:
    template = await template_store.lock_template(work.conn, template_id)
    if (problem := draft_problem(template, WHAT, action, ADVICE)) is not None:
        return Change(problems=[problem])
    assert template is not None
    return Change(template)


async def create_template(work: UnitOfWork, name: str, description: str | None,
                          entries: Sequence[EntryInput], member_scope: str = "ACCOUNT"
                          ) -> Change[RoleTemplate]:
    checked, entry_problems = await _entries(work, entries)
    problems = name_problems(name) + entry_problems
    if problems:
        return applied(work, Change(problems=problems))
    try:
        return Change(await template_store.create_template(
            work.conn, work.tenant_id, name.strip(), description, checked,
            member_scope=member_scope))
    except template_store.TemplateNameTaken:
        return applied(work, _taken(name.strip()))


async def update_template(work: UnitOfWork, template_id: UUID, *, name: str | None,
                          description: str | None, set_description: bool,
                          entries: Sequence[EntryInput] | None, member_scope: str | None = None
                          ) -> Change[RoleTemplate]:
    """Change a DRAFT (None: keep); `set_description`: replace the description."""
    draft = await _draft(work, template_id, "edited")
    if draft.value is None:
        return applied(work, draft)
    problems = name_problems(name)
    checked: list[Entry] | None = None
    if entries is not None:
        checked, entry_problems = await _entries(work, entries)
        problems += entry_problems
    if problems:
        return applied(work, Change(problems=problems))
    try:
        return Change(await template_store.update_template(
            work.conn, draft.value, name.strip() if name else None, description,
            set_description, checked, member_scope))
    except template_store.TemplateNameTaken:
        return applied(work, _taken(name or ""))


async def publish_template(work: UnitOfWork, template_id: UUID) -> Change[RoleTemplate]:
    """Make a DRAFT LIVE: it needs a role at least, and cannot change after."""
    draft = await _draft(work, template_id, "published again")
    if draft.value is None:
        return applied(work, draft)
    if not draft.value.entries:
        return applied(work, refused("id", "NO_ROLES",
                                     "a template needs at least one role before it is "
                                     "published"))
    return Change(await template_store.publish_template(work.conn, template_id))


async def delete_template(work: UnitOfWork, template_id: UUID) -> Change[UUID]:
    draft = await _draft(work, template_id, "deleted")
    if draft.value is None:
        return applied(work, Change(problems=draft.problems))
    await template_store.delete_template(work.conn, template_id)
    return Change(template_id)


async def copy_template(work: UnitOfWork, template_id: UUID, name: str
                        ) -> Change[RoleTemplate]:
    """A new DRAFT from any template (a LIVE one, say), with its roles and rules."""
    if problems := name_problems(name):
        return applied(work, Change(problems=problems))
    source = await template_store.get_template(work.conn, template_id)
    if source is None:
        return applied(work, refused("id", "NOT_FOUND", "no such role template"))
    try:
        return Change(await template_store.create_template(
            work.conn, work.tenant_id, name.strip(), source.description, source.entries,
            copied_from=source.id, member_scope=source.member_scope))
    except template_store.TemplateNameTaken:
        return applied(work, _taken(name.strip()))
