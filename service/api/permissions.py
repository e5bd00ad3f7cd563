"""Scope checks: a READ key may query, WRITE may change data, ADMIN may manage keys and sources."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from service.infra.auth import Scope


class _RequireScope(BasePermission):
    scope: Scope

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.allows(self.scope))


class RequireWrite(_RequireScope):
    scope = Scope.WRITE
    message = "This operation needs an API key with the WRITE scope."
    error_extensions = {"code": "FORBIDDEN"}


class RequireAdmin(_RequireScope):
    scope = Scope.ADMIN
    message = "This operation needs an API key with the ADMIN scope."
    error_extensions = {"code": "FORBIDDEN"}
