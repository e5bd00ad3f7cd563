"""`buying-groups dev`: embedded servers when no URLs are set, migrations, a demo tenant, then the
API and the worker in one process until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from rich.console import Console

from service.dev import servers_file
from service.dev.demo import load_demo
from service.dev.embedded import start_missing, with_database
from service.infra.auth import Scope
from service.infra.config import Settings
from service.infra.db import Database, create_pool, ensure_database, login_name
from service.infra.migrate import migrate
from service.infra.secrets import new_key
from service.store import api_keys as key_store
from service.store import tenants as tenant_store
from service.usecases import tenants as onboarding
from service.usecases.unit_of_work import CLI, unit_of_work

log = logging.getLogger(__name__)

DEMO_TENANT = "Demo"
T = TypeVar("T")


async def demo_api_key(database_url: str, saved: str) -> str:
    """The demo tenant's ADMIN key: the saved one while it still works, else a new one."""
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        db = Database(pool)
        if saved:
            async with db.system() as conn:
                if await key_store.authenticate(conn, saved):
                    return saved
        tenant = await demo_tenant(db)
        async with db.tenant(tenant.id) as conn:
            _, secret = await key_store.create_api_key(
                conn, tenant.id, "demo key (buying-groups dev)", {Scope.ADMIN}
            )
        return secret
    finally:
        await pool.close()


async def demo_tenant(db: Database) -> tenant_store.Tenant:
    async with db.system() as conn:
        tenant = await tenant_store.find_tenant_by_name(conn, DEMO_TENANT)
    return tenant or (await onboarding.create_tenant(db, DEMO_TENANT))[0]


async def load_demo_data(database_url: str) -> bool:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        db = Database(pool)
        tenant = await demo_tenant(db)
        async with unit_of_work(db, tenant.id, CLI) as work:
            return await load_demo(work)
    finally:
        await pool.close()


class Stopper:
    """Turns a stop signal into a stop wherever it lands: in plain code it raises
    KeyboardInterrupt; while an event loop runs it cancels the loop's main task (as asyncio does
    for Ctrl-C) or, once the API serves, asks the servers to shut down — an exception raised in
    the middle of the loop's own machinery could leave its clean-up hanging."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_stop: Callable[[], None] | None = None

    def handle(self, signum: int, frame: object) -> None:
        self.signals.append(signum)
        if self._task is not None and self._loop is not None and not self._task.done():
            if self.on_stop is not None:
                self.on_stop()
            else:
                self._task.cancel()
            self._loop.call_soon_threadsafe(lambda: None)  # wake the loop up
            return
        raise KeyboardInterrupt

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        async def main() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            try:
                return await coro
            finally:
                self._task = self._loop = None
                self.on_stop = None

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:
            if self.signals:
                raise KeyboardInterrupt from None
            raise


def prepare(settings: Settings, database_url: str, stopper: Stopper) -> str:
    """Migrate and load the demo data, then return the demo key (saved under the data
    directory for the next start)."""
    owner_url = settings.migration_database_url or database_url
    service_login = (stopper.run(login_name(database_url)) if owner_url != database_url
                     else None)
    stopper.run(migrate(owner_url, service_login=service_login))
    if stopper.run(load_demo_data(database_url)):
        log.info("demo data loaded into tenant %r", DEMO_TENANT)
    key_file = settings.data_dir / "demo-api-key"
    saved = key_file.read_text().strip() if key_file.exists() else ""
    key = stopper.run(demo_api_key(database_url, saved))
    if key != saved:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return key


async def serve_all(
    settings: Settings, database_url: str, redis_url: str, host: str, port: int,
    announce_ready: Callable[[], None], stopper: Stopper,
) -> None:
    import uvicorn

    from jobs.worker import build_worker
    from service.app import create_app
    from service.dev.simulator import State, create_simulator
    from service.usecases.deployment import resolved

    class QuietServer(uvicorn.Server):
        """A second server in the process: the API's server alone answers Ctrl-C."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    class AnnouncingServer(uvicorn.Server):
        """Says it is ready once it listens, not before."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                announce_ready()

    app = create_app(settings, database_url=database_url, redis_url=redis_url)
    server = AnnouncingServer(uvicorn.Config(app, host=host, port=port, log_config=None,
                                             ws_per_message_deflate=settings.ws_compression))
    # The activity simulator on the port of ACTIVITY_API_URL, unless that points elsewhere.
    sim_url = urlsplit(settings.activity_api_url)
    simulator = None
    if sim_url.hostname in ("127.0.0.1", "localhost") and sim_url.port:
        simulator = QuietServer(uvicorn.Config(
            create_simulator(State(client_id=settings.activity_api_client_id,
                                   client_secret=settings.activity_api_client_secret)),
            host="127.0.0.1", port=sim_url.port, log_config=None, log_level="warning"))
        simulator_task = asyncio.create_task(simulator.serve())
    worker = build_worker(await resolved(settings, database_url), database_url, redis_url,
                          handle_signals=False)
    worker_task = asyncio.create_task(worker.async_run())
    # uvicorn answers SIGINT and SIGTERM itself while it serves; SIGHUP shuts it down the same
    # graceful way.
    stopper.on_stop = lambda: setattr(server, "should_exit", True)
    try:
        await server.serve()  # returns on Ctrl-C / SIGTERM
    finally:
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task
        await worker.close()
        if simulator is not None:
            simulator.should_exit = True
            await simulator_task


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
READY_LINE = "Ready. Ctrl-C stops everything."


def run_dev(settings: Settings, *, host: str, port: int) -> None:
    """Everything at once; every way out (Ctrl-C, SIGTERM from a process manager or `timeout`,
    SIGHUP from a closed terminal, an error while starting) stops the embedded servers."""
    stopper = Stopper()
    # Before anything is started: by default these signals would end the process on the spot.
    for stop_signal in (signal.SIGINT, *STOP_SIGNALS):
        signal.signal(stop_signal, stopper.handle)
    console = Console()
    sim_url = urlsplit(settings.activity_api_url)
    if not settings.outbound_allowed_hosts and sim_url.hostname in ("127.0.0.1", "localhost"):
        # A tenant may point its own source at the local simulator, and nowhere else local.
        settings = settings.model_copy(
            update={"outbound_allowed_hosts": f"{sim_url.hostname}:{sim_url.port or 80}"})
    # Development: receivers on this machine may be tried (`webhooks listen`, a test server).
    settings = settings.model_copy(update={"outbound_allow_loopback": True})
    if settings.secret_key is None:
        # Development: a key of its own under .data/, kept across runs (secrets stay readable).
        key_file = settings.data_dir / "secret-key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(new_key())
            key_file.chmod(0o600)
        settings = settings.model_copy(update={"secret_key": key_file.read_text().strip()})
        os.environ.setdefault("SECRET_KEY", settings.secret_key or "")
    services = None
    try:
        services = start_missing(settings.data_dir, settings.database_url, settings.redis_url)
        assert services.database_url and services.redis_url
        database_url, redis_url = services.database_url, services.redis_url
        if settings.database_url is None:
            stopper.run(ensure_database(database_url, settings.database_name))
            database_url = with_database(database_url, settings.database_name)
            # The embedded server's one login is its superuser, on a machine of one developer:
            # the only place the service runs as a login that could step around row-level
            # security (tests run the embedded path as a least-privileged login, as in prod).
            settings = settings.model_copy(update={"allow_privileged_database_login": True})
        key = prepare(settings, database_url, stopper)
        # The command line in another terminal finds these servers while this runs.
        servers_file.record(settings.data_dir, database_url, redis_url)
        # Child processes started later (simulator, CLI calls from the README) find the servers.
        os.environ.setdefault("DATABASE_URL", database_url)
        os.environ.setdefault("REDIS_URL", redis_url)

        def announce_ready() -> None:
            console.rule("Buying Groups service")
            # The key rides in the fragment, which the browser never sends: the console
            # signs itself in with it, for this tab (development only).
            console.print(f"Console   [bold]http://{host}:{port}/console#key={key}[/]",
                          soft_wrap=True)
            console.print(f"GraphiQL  [bold]http://{host}:{port}/graphql#key={key}[/]",
                          soft_wrap=True)
            console.print(f"API key   [bold]{key}[/]  (tenant {DEMO_TENANT!r}, ADMIN)",
                          soft_wrap=True)
            console.print(f"Database  {database_url}\nRedis     {redis_url}", soft_wrap=True)
            console.print(f"Activity  simulator at {settings.activity_api_url} (synced every "
                          f"{settings.activity_sync_interval_seconds} s)", soft_wrap=True)
            console.rule()
            # Last, and only once the API answers: scripts and tests wait for this line.
            console.print(READY_LINE, highlight=False)

        stopper.run(serve_all(settings, database_url, redis_url, host, port, announce_ready,
                              stopper))
    except BaseException:
        # The interruption can surface as another exception (one raised inside an import is
        # wrapped in a RuntimeError by class creation): after a stop signal, it is a stop.
        if not stopper.signals:
            raise
    finally:
        # A second signal (an impatient Ctrl-C) must not cut the stopping short; a stop that
        # hangs is for SIGKILL, after which the watchdog stops the servers.
        for stop_signal in (signal.SIGINT, *STOP_SIGNALS):
            signal.signal(stop_signal, signal.SIG_IGN)
        servers_file.forget(settings.data_dir)
        if services is not None:
            services.stop()
        console.print("stopped.")
