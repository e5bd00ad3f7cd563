"""The database login the service runs as, and the one check that keeps it least-privileged.

`serve` and `worker` log in as a role that may only switch to `buying_groups_app` (tenant
transactions) and `buying_groups_system` (work across tenants): neither a superuser, nor a
BYPASSRLS role, nor the owner of the tables (who could turn row-level security off). A login
that could step around row-level security is refused at start, so an SQL injection cannot
`RESET ROLE` into the whole server; only the embedded development path, where the one login is
the server's superuser, sets ALLOW_PRIVILEGED_DATABASE_LOGIN. `migrate` runs as the owner
(MIGRATION_DATABASE_URL) and grants the service's login the two roles (`grant_roles`).
"""

from __future__ import annotations

import re

from service.infra.db import APP_ROLE, SYSTEM_ROLE, Connection, Pool

_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


class PrivilegedLogin(RuntimeError):
    """The login could step around row-level security, or cannot do the service's work."""


async def privileges(conn: Connection, login: str | None = None) -> list[str]:
    """What about `login` (default: this connection's) steps around row-level security:
    empty when nothing does."""
    row = await conn.fetchrow(
        """SELECT r.rolname, r.rolsuper, r.rolbypassrls,
                  (SELECT string_agg(c.relname, ', ' ORDER BY c.relname)
                     FROM pg_class c
                    WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p')
                      AND c.relnamespace = 'public'::regnamespace) AS owns
             FROM pg_roles r WHERE r.rolname = coalesce($1, current_user)""", login)
    if row is None:
        return [f"the role {login} does not exist"]
    found = []
    if row["rolsuper"]:
        found.append(f"{row['rolname']} is a superuser")
    if row["rolbypassrls"]:
        found.append(f"{row['rolname']} has BYPASSRLS")
    if row["owns"]:
        found.append(f"{row['rolname']} owns tables ({_shorten(row['owns'])}) and could "
                     "switch their row-level security off")
    return found


async def missing_roles(conn: Connection, login: str | None = None) -> list[str]:
    """The service's roles `login` (default: this connection's) cannot switch to."""
    rows = await conn.fetch(
        """SELECT w.role FROM unnest($2::text[]) AS w(role)
            WHERE to_regrole(w.role) IS NULL
               OR NOT pg_has_role(coalesce($1, current_user), w.role, 'MEMBER')""",
        login, [APP_ROLE, SYSTEM_ROLE])
    return [r["role"] for r in rows]


async def inherited_roles(conn: Connection, login: str | None = None) -> list[str]:
    """The service's roles whose privileges `login` holds without switching to them. It must
    hold none: else SQL that steps out of a tenant transaction (`RESET ROLE`) would still read
    what the system role reads, every tenant's rows, under the system role's policies."""
    rows = await conn.fetch(
        """SELECT w.role FROM unnest($2::text[]) AS w(role)
            WHERE to_regrole(w.role) IS NOT NULL
              AND pg_has_role(coalesce($1, current_user), w.role, 'USAGE')""",
        login, [APP_ROLE, SYSTEM_ROLE])
    return [r["role"] for r in rows]


async def check_login(conn: Connection, *, allow_privileged: bool) -> None:
    """Refuse to run as a login that steps around row-level security (unless allowed) or
    cannot switch to the service's roles. Called as `serve` and `worker` start."""
    found = await privileges(conn)
    if not found and (inherited := await inherited_roles(conn)):
        found.append(f"it holds the privileges of {', '.join(inherited)} without switching "
                     "(ALTER ROLE <login> NOINHERIT, or `buying-groups migrate`)")
    if found and not allow_privileged:
        raise PrivilegedLogin(
            "the database login can step around row-level security: " + "; ".join(found)
            + ". Log in as a role of its own (docs/operations.md: 'The database login'); "
            "ALLOW_PRIVILEGED_DATABASE_LOGIN=true is for the embedded development server only")
    missing = await missing_roles(conn)
    if missing and not found:  # a superuser switches to any role
        raise PrivilegedLogin(
            f"the database login cannot switch to {', '.join(missing)}: run "
            "`buying-groups migrate` with DATABASE_URL set to this login (it grants them), or "
            f"GRANT {', '.join(missing)} TO <login> as the owner")


async def check_pool(pool: Pool, *, allow_privileged: bool) -> None:
    """check_login on one of the pool's connections; the pool is closed when it fails."""
    try:
        async with pool.acquire() as conn:
            await check_login(conn, allow_privileged=allow_privileged)
    except PrivilegedLogin:
        await pool.close()
        raise


async def grant_roles(conn: Connection, login: str) -> None:
    """Grant the service's login the two roles it switches to (`migrate`, as the owner),
    after checking it is least-privileged: a migration never hands the roles to a login that
    would make row-level security moot."""
    if not _ROLE_NAME.match(login):
        raise PrivilegedLogin(f"{login!r} is not a role name this service grants roles to")
    found = await privileges(conn, login)
    if found:
        raise PrivilegedLogin("the service's login must not step around row-level security: "
                              + "; ".join(found))
    version = int(await conn.fetchval("SHOW server_version_num"))
    for role in (APP_ROLE, SYSTEM_ROLE):
        if version >= 160000:  # the membership's own options: switch to it, inherit nothing
            await conn.execute(f'GRANT {role} TO "{login}" WITH INHERIT FALSE, SET TRUE')
        elif role in await missing_roles(conn, login):
            await conn.execute(f'GRANT {role} TO "{login}"')
    if version < 160000 and await inherited_roles(conn, login):
        await conn.execute(f'ALTER ROLE "{login}" NOINHERIT')
    if inherited := await inherited_roles(conn, login):
        raise PrivilegedLogin(f"{login} still holds the privileges of {', '.join(inherited)}")


def _shorten(names: str, limit: int = 120) -> str:
    return names if len(names) <= limit else names[:limit] + "…"
