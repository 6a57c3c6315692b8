"""The processes of netsight.async: the public API (docs/api.rst).

``Processes(request)`` finds a process, says whether the requester may see
it, reads its status as a frozen ``ProcessStatus`` (its ``ProcessState``
typed), and cancels, shows or removes it; the pages, the lists and the
REST API render what it returns. The registry (``registry.py``) is its
storage, a private detail.
"""

from netsight.asynchronous.processes.outcomes import CancelOutcome  # noqa: F401
from netsight.asynchronous.processes.outcomes import RemoveOutcome  # noqa: F401
from netsight.asynchronous.processes.outcomes import RetryOutcome  # noqa: F401
from netsight.asynchronous.processes.service import is_process_id  # noqa: F401
from netsight.asynchronous.processes.service import Processes  # noqa: F401
from netsight.asynchronous.processes.state import ProcessState  # noqa: F401
from netsight.asynchronous.processes.status import ProcessStatus  # noqa: F401
