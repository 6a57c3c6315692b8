"""The settings a start reads, once, and the caps a job takes from them to the pool: StartSettings, JobLimits.

A start reads what it needs of the settings in one go
(``StartSettings.read``: the instance's job threads and queue limit, its
site's cap of one user's jobs, share of the job threads and expiry). The
caps a job keeps from its start are one ``JobLimits``: the record keeps
it (``keep_in``: its fields, which another instance reads back with
``of_record``), the ``Job`` holds it and the pool reads it (``Pool`` knows
no site: a job's own limits tell it whose the job is and how many of its
owner's, site's or address's may run at once).
"""

from dataclasses import dataclass
from netsight.asynchronous import settings
from netsight.asynchronous.anonymous import record_address
from netsight.asynchronous.registry import owner_key
from netsight.asynchronous.scheduling import rank


@dataclass(frozen=True)
class StartSettings:
    """What a start reads of the settings: the instance's, and those its site sets (None: none)."""

    job_threads: int  # this instance's: 0 on a front-end, which runs no job
    queue_limit: int  # jobs that may wait before a start is refused (0: no limit)
    max_per_user: int | None  # the site's cap of one user's jobs at once; None: the instance's applies
    site_job_threads: int | None  # the site's share of an instance's job threads; None: no share
    expiry: float | None  # the site's expiry; None: the instance's applies

    @classmethod
    def read(cls):
        """The settings as this request reads them (its site's registry first, where it has one)."""
        return cls(
            job_threads=settings.get("job-threads"),
            queue_limit=settings.get("queue-limit"),
            max_per_user=settings.site_value("max-per-user"),
            site_job_threads=settings.site_value(settings.SITE_JOB_THREADS),
            expiry=settings.site_value("expiry"),
        )

    @property
    def runs_here(self):
        """Whether this instance runs the jobs it starts (else it is a front-end)."""
        return self.job_threads > 0


@dataclass(frozen=True)
class JobLimits:
    """Whose a job is and the caps it keeps from its start, for the pool of whichever instance runs it."""

    owner: str  # whose, as one string (``registry.owner_key``)
    site: str = ""  # the path of its site ("" outside any)
    max_per_user: int | None = None  # its site's cap of one owner's jobs at once; None: the instance's
    site_job_threads: int | None = None  # its site's share of the job threads; None: no share
    address: str | None = None  # an anonymous visitor's: its address key (anonymous.py); None: a user's
    priority: int = 0  # its view's priority (scheduling.py): a higher one leaves the pool's queue first
    created: float = 0.0  # when it was started: with its priority, its place in the queue (``rank``)
    queue: str | None = None  # its view's queue (queues.py; None: the default one): capped by its ``queues`` threads
    time_limited: bool = False  # its view has a time_limit: never started ahead (worker._write_end)

    @classmethod
    def at_start(cls, record, start):
        """The limits of a new ``record`` (its owner, site and address key set) under ``start``'s settings."""
        return cls(
            owner=owner_key(record),
            site=record.site,
            max_per_user=start.max_per_user,
            site_job_threads=start.site_job_threads,
            address=record_address(record),
            priority=record.priority,
            created=record.created,
            queue=record.queue,
            time_limited=record.time_limit is not None,
        )

    @classmethod
    def of_record(cls, record):
        """The limits that ``record`` kept (``keep_in``), for an instance that claims its job."""
        return cls(
            owner=owner_key(record),
            site=record.site,
            max_per_user=record.max_per_user,
            site_job_threads=record.pool_size,
            address=record_address(record),
            priority=record.priority,
            created=record.created,
            queue=record.queue,
            time_limited=getattr(record, "time_limit", None) is not None,
        )

    def keep_in(self, record):
        """Keep these limits in ``record`` (its stored fields), for the instance that will run it."""
        record.max_per_user = self.max_per_user
        record.pool_size = self.site_job_threads

    @property
    def rank(self):
        """Its place among the waiting jobs, lower sooner (``scheduling.rank``: aged priority)."""
        return rank(self.created, self.priority)

    @property
    def place(self):
        """What the caps of other jobs count of this one: ``(owner, site, address, queue)``."""
        return self.owner, self.site, self.address, self.queue

