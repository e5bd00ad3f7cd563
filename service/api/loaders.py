"""Per-request DataLoaders: every nested object is fetched in one batched query per kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from service.db import Connection
from service.store.api_keys import ApiKey, api_keys_by_ids
from service.store.jobs import Job, jobs_by_ids

if TYPE_CHECKING:
    from service.api.context import Context

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[Connection, list[K]], Awaitable[dict[K, V]]]


def by_key(context: Context, fetch: Fetch[K, V]) -> DataLoader[K, V | None]:
    async def load(keys: list[K]) -> list[V | None]:
        tenant_id = context.tenant_principal.tenant_id
        async with context.db.tenant(tenant_id, readonly=True) as conn:
            found = await fetch(conn, list(keys))
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    api_key: DataLoader[UUID, ApiKey | None]
    job: DataLoader[UUID, Job | None]

    @classmethod
    def for_context(cls, context: Context) -> Loaders:
        return cls(
            api_key=by_key(context, api_keys_by_ids),
            job=by_key(context, jobs_by_ids),
        )
