"""The worker process: an RQ worker that pushes records to Kanal, with the paced scheduler."""

from __future__ import annotations

import logging

from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from bridge import defaults, metrics
from bridge.config import BridgeConfig, Settings
from bridge.connection import sync_redis
from bridge.delivery import jobs
from bridge.delivery import push as delivery
from bridge.delivery.kanal import KanalClient
from bridge.delivery.limiter import Limiter
from bridge.delivery.records import WorkerRecords
from bridge.ops import alerts
from bridge.platforms import periodic as platform_tasks
from bridge.platforms.periodic import Periodic
from bridge.scheduler import PacedScheduler

log = logging.getLogger("bridge.worker")


class Worker(SimpleWorker):
    """Runs pushes in-process (no fork per job: the Kanal connection pool stays warm) and
    starts the paced scheduler instead of RQ's whole-second one, with the periodic platform
    tasks of `periodic` (None: none)."""

    periodic: Periodic | None = None

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "%H:%M:%S",
        log_format: str = "%(asctime)s %(message)s",
    ) -> None:
        self.scheduler = PacedScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level or "INFO",
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
            periodic=self.periodic,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stop the scheduler process, then drop its lock if it died holding it (a SIGTERM
        that lands before its signal handlers are in place kills it outright): otherwise no
        worker would schedule pushes until the lock expires, 61 s later. The lock is released
        only if it still names this worker's scheduler, never a peer's."""
        super().stop_scheduler()
        if self.scheduler is not None:
            self.scheduler.release_locks()


def run_worker(settings: Settings, config: BridgeConfig, burst: bool = False) -> None:
    """Work the push queue, then the platform queue, until stopped (SIGTERM finishes the
    current job first)."""
    connection = sync_redis(settings.redis_url)
    kanal = KanalClient(config.kanal.api_url, timeout=config.kanal.timeout_seconds)
    delivery.install(
        delivery.Runtime(
            config=config,
            kanal=kanal,
            records=WorkerRecords(connection, config.delivery.remember_versions_days),
            limiter=Limiter(connection),
        )
    )
    platform_tasks.install(platform_tasks.Context(config, connection))
    worker = Worker(
        [jobs.queue(connection), platform_tasks.queue(connection)],
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=defaults.WORKER_MAINTENANCE_INTERVAL,
        worker_ttl=defaults.WORKER_TTL,
    )
    worker.periodic = Periodic(config)
    metrics.announce("worker", defaults.WORKER_CONNECTIONS)
    flusher = metrics.Flusher(connection)
    flusher.start()
    alert_thread = alerts.start(settings.redis_url, config)
    log.info("worker %s started: queues %s", worker.name, ", ".join(worker.queue_names()))
    try:
        worker.work(with_scheduler=True, burst=burst, logging_level=rq_log_level())
    finally:
        log.info("worker %s stopped", worker.name)
        if alert_thread is not None:
            alert_thread.stop()
        flusher.stop()
        kanal.close()


def rq_log_level() -> str:
    """RQ logs three lines per job and its registry maintenance at INFO, all of which the
    bridge's own line per push already says: RQ speaks from WARNING up (its job failures and
    tracebacks) unless the bridge logs at DEBUG."""
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    return "DEBUG" if debug else "WARNING"
