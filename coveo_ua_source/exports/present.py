"""The present a run plans up to: never past the service's, whatever the worker's clock.

Windows stop at the service's present minus ``settle_delay``; a worker whose clock runs
ahead would otherwise plan a window the service has not reached, record it loaded with
its last rows missing, and never export it again. (A worker whose clock lags only loads
less now; the next run loads the rest.) The service's present is the ``Date``
of its latest answer (one cheap call asks for it when none came yet); a worker clock more
than CLOCK_SKEW_TOLERANCE off is reported with both times.
"""

from __future__ import annotations

import logging
from datetime import datetime

from coveo_ua_source import clock, settings
from coveo_ua_source.api.client import CoveoClient
from coveo_ua_source.dates import format_utc

logger = logging.getLogger(__name__)


def service_present(client: CoveoClient) -> datetime:
    """The service's present; the worker's when the service sends no ``Date``."""
    worker = clock.utc_now()
    service = client.service_now()
    if service is None:
        client.row_limit()  # sizing asks it anyway; its answer carries the service's Date
        service = client.service_now()
    if service is None:
        return worker
    if abs(worker - service) > settings.CLOCK_SKEW_TOLERANCE:
        logger.warning(
            "this worker's clock says %s but the service's says %s: planning up to the "
            "service's present; set the worker's clock right (NTP)",
            format_utc(worker), format_utc(service),
        )  # fmt: skip
    return service
