"""What an operator does to a running queue system, as plain async functions.

The CLI (``asynctasq job|queue|dlq|worker list|health``), the dashboard and your own
scripts call these same functions with a connected driver. Each asks the driver for
the capability it needs (``asynctasq.drivers.capabilities``) and raises
``CapabilityMissing`` with a clear message when the broker lacks it: there is no
per-broker code here. Records for output have one JSON shape (``schema.py``).
"""

from asynctasq.operations.dead_letters import (
    DeadLetterGroup,
    QueueDeadLetters,
    dead_letter_groups,
)
from asynctasq.operations.durations import parse_duration
from asynctasq.operations.flows import FlowPage, list_flows
from asynctasq.operations.health import Health, check_health
from asynctasq.operations.jobs import (
    BulkResult,
    JobPage,
    Progress,
    cancel_jobs,
    list_jobs,
    matching_ids,
    remove_jobs,
    remove_matching,
    retry_jobs,
    retry_matching,
    show_job,
)
from asynctasq.operations.queues import (
    CleanResult,
    clean_queue,
    pause_queue,
    queue_summaries,
    resume_queue,
)
from asynctasq.operations.rate_limits import queue_rate_limits, set_queue_rate_limit
from asynctasq.operations.scan import JobFilter
from asynctasq.operations.schedules import (
    ScheduleNotFound,
    list_schedules,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    run_schedule_now,
)
from asynctasq.operations.schema import SCHEMA_VERSION, job_detail, job_summary
from asynctasq.operations.workers import list_workers

__all__ = [
    "SCHEMA_VERSION",
    "BulkResult",
    "CleanResult",
    "DeadLetterGroup",
    "FlowPage",
    "Health",
    "JobFilter",
    "JobPage",
    "Progress",
    "QueueDeadLetters",
    "ScheduleNotFound",
    "cancel_jobs",
    "check_health",
    "clean_queue",
    "dead_letter_groups",
    "job_detail",
    "job_summary",
    "list_flows",
    "list_jobs",
    "list_schedules",
    "list_workers",
    "matching_ids",
    "parse_duration",
    "pause_queue",
    "pause_schedule",
    "queue_rate_limits",
    "queue_summaries",
    "remove_jobs",
    "remove_matching",
    "remove_schedule",
    "resume_queue",
    "resume_schedule",
    "retry_jobs",
    "retry_matching",
    "run_schedule_now",
    "set_queue_rate_limit",
    "show_job",
]
