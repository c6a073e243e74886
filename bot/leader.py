"""One scheduler among replicas: a lease row in the SQL database that holds the job store.

Every replica that may run jobs (``VIGIL_ROLE`` ``all`` or ``scheduler``) competes for the
lease named ``scheduler``. The holder renews it every third of ``scheduler.lease`` and runs the
jobs; the others try as often and take over once it has run out: the holder died, hung, or lost
the database. A holder that cannot renew for two thirds of the lease stops its jobs before anyone
else may take over, so two replicas never run jobs at once (given clocks within a few seconds).

Taking the lease is one conditional ``UPDATE`` (or the first ``INSERT``), atomic in SQLite,
PostgreSQL and MySQL alike, so no advisory-lock dialect is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Column, Double, MetaData, String, Table, create_engine, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from knowledge.errors import ConfigError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0

_METADATA = MetaData()
LEASES = Table(
    "vigil_leases",
    _METADATA,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),
    # DOUBLE: a Unix time in MySQL's FLOAT (single precision) is only good to ~2 minutes
    Column("expires_at", Double, nullable=False),
)


def default_holder(instance: str = "main") -> str:
    """``host:pid`` (``/instance`` for a second app in one process): unique among live
    replicas, and the same when a pod's container restarts."""
    suffix = "" if instance == "main" else f"/{instance}"
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


def _dead_local_process(holder: str) -> bool:
    """Whether ``holder`` names a process on this host that no longer exists."""
    host, _, pid = holder.split("/", 1)[0].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


@dataclass(frozen=True)
class LeaseState:
    holder: str | None
    expires_in_s: float


def lease_state(conn: Connection, name: str, now: float) -> LeaseState:
    """Who holds lease ``name`` and for how much longer, read on an open connection."""
    row = conn.execute(select(LEASES).where(LEASES.c.name == name)).first()
    if row is None:
        return LeaseState(None, 0.0)
    return LeaseState(row.holder, max(0.0, row.expires_at - now))


class LeaderLease:
    """The lease row: ``acquire`` takes or renews it, ``release`` gives it up."""

    def __init__(
        self,
        url: str,
        lease_s: float,
        name: str = "scheduler",
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.lease_s = lease_s
        self.name = name
        self.holder = holder or default_holder()
        self.clock = clock
        self._engine: Engine | None = None

    @property
    def where(self) -> str:
        """The database, without its password (for messages)."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The engine, with the lease table created; ``ConfigError`` when the URL names an
        unknown dialect or a driver that is not installed (no retry can fix that)."""
        if self._engine is None:
            try:
                backend = make_url(self.url).get_backend_name()
                # a database that does not answer must not hold up a renewal for minutes
                connect_args = (
                    {"timeout": CONNECT_TIMEOUT_S}
                    if backend == "sqlite"
                    else {"connect_timeout": int(CONNECT_TIMEOUT_S)}
                    if backend in ("postgresql", "mysql", "mariadb")
                    else {}
                )
                engine = create_engine(self.url, pool_pre_ping=True, connect_args=connect_args)
            except (ImportError, ArgumentError, ValueError) as exc:
                raise ConfigError(
                    "VIGIL_SCHEDULER_DB",
                    "environment",
                    f"expected a SQLAlchemy URL whose database driver is installed ({exc})",
                ) from None
            try:
                _METADATA.create_all(engine, tables=[LEASES])
            except BaseException:
                # not kept: the next try creates the table once the database is there
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    def acquire(self) -> bool:
        """Take the lease if it is free, ran out, or is ours; renew it when ours. Raises
        ``SQLAlchemyError`` when the database cannot be reached."""
        now = self.clock()
        expires = now + self.lease_s
        with self.engine.begin() as conn:
            taken = conn.execute(
                sql_update(LEASES)
                .where(LEASES.c.name == self.name)
                .where((LEASES.c.holder == self.holder) | (LEASES.c.expires_at < now))
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
            if taken:
                return True
            row = conn.execute(select(LEASES).where(LEASES.c.name == self.name)).first()
            if row is not None:
                if not _dead_local_process(row.holder):
                    return False
                # its holder was killed on this host (kill -9, OOM): no need to wait it out
                return bool(
                    conn.execute(
                        sql_update(LEASES)
                        .where(LEASES.c.name == self.name)
                        .where(LEASES.c.holder == row.holder)
                        .values(holder=self.holder, expires_at=expires)
                    ).rowcount
                )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(LEASES).values(name=self.name, holder=self.holder, expires_at=expires)
                )
        except IntegrityError:  # another replica inserted it first
            return False
        return True

    def release(self) -> None:
        """Let the lease go at once (a graceful stop), so a standby need not wait it out."""
        with self.engine.begin() as conn:
            conn.execute(
                sql_update(LEASES)
                .where(LEASES.c.name == self.name)
                .where(LEASES.c.holder == self.holder)
                .values(expires_at=0.0)
            )

    def state(self) -> LeaseState:
        with self.engine.connect() as conn:
            return lease_state(conn, self.name, self.clock())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


Hook = Callable[[], Awaitable[None]]


class Leadership:
    """Keeps trying for the lease; ``on_elected`` when this replica gets it, ``on_deposed``
    when it can no longer be sure it holds it."""

    def __init__(
        self,
        lease: LeaderLease,
        on_elected: Hook,
        on_deposed: Hook,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.monotonic = monotonic
        self.leader = False
        self.elections = 0
        self.last_error: str | None = None
        self.lost = False
        """Set when the lease was lost (not released): the jobs must stop quickly."""
        self._renewed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._asking: asyncio.Future[bool] | None = None

    @property
    def interval_s(self) -> float:
        return self.lease.lease_s / 3

    def holds_lease(self) -> bool:
        """Whether this replica is the leader and renewed recently enough to be sure no other
        replica can have taken over (the check before each job runs)."""
        return self.leader and self.monotonic() - self._renewed_at < self.lease.lease_s * 2 / 3

    async def start(self) -> None:
        """Try once now (a lone replica starts its jobs at once), then keep trying."""
        await self._tick()
        self._task = asyncio.create_task(self._loop(), name="vigil-leadership")

    async def stop(self) -> None:
        """Stop trying; when leader, stop the jobs and release the lease."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._asking is not None and not self._asking.done():
            # a renewal under way could commit after the release and keep the lease held
            await asyncio.wait([self._asking], timeout=self.lease.lease_s)
        if self.leader:
            self.leader, self.lost = False, False
            await self.on_deposed()
            try:
                await asyncio.to_thread(self.lease.release)
            except SQLAlchemyError as exc:
                log.warning(
                    "could not release the scheduler lease (%s); it runs out by itself",
                    _reason(exc),
                )
        await asyncio.to_thread(self.lease.close)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._tick()
            except Exception:  # keep trying: a dead loop would leave no replica running jobs
                log.exception("scheduler lease: unexpected failure; trying again")

    async def _tick(self) -> None:
        # the lease runs from before the database was asked, however long it took to answer
        asked_at = self.monotonic()
        try:
            self._asking = asyncio.ensure_future(asyncio.to_thread(self.lease.acquire))
            held = await asyncio.shield(self._asking)  # a stop waits for it, not cancels it
        except SQLAlchemyError as exc:
            reason = _reason(exc)
            if reason != self.last_error:
                log.error(
                    "scheduler lease: the job store at %s failed (%s); jobs run on no replica "
                    "that cannot reach it",
                    self.lease.where,
                    reason,
                )
            self.last_error = reason
            if self.leader and not self.holds_lease():
                log.error("scheduler lease not renewed in time: stopping the jobs here")
                await self._depose()
            return
        if self.last_error is not None:
            log.info("scheduler lease: the job store database is back")
            self.last_error = None
        if held:
            self._renewed_at = asked_at
            if not self.leader:
                self.leader, self.lost = True, False
                self.elections += 1
                log.info(
                    "this replica (%s) holds the scheduler lease: running the jobs",
                    self.lease.holder,
                )
                try:
                    await self.on_elected()
                except Exception as exc:  # the jobs could not start: let another replica try
                    log.error(
                        "scheduler lease: the jobs could not start here (%s: %s); "
                        "releasing the lease",
                        type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "",
                    )
                    await self._depose()
                    with contextlib.suppress(SQLAlchemyError):
                        await asyncio.to_thread(self.lease.release)
        elif self.leader:
            log.warning("another replica took the scheduler lease: stopping the jobs here")
            await self._depose()

    async def _depose(self) -> None:
        self.leader, self.lost = False, True
        await self.on_deposed()


def _reason(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return f"{type(exc).__name__}: {text}"[:300]
