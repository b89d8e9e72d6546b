"""Region stores for tenant configuration: one PostgreSQL database per region (``apex_eu``,
``apex_us``, ``apex_apac``) on the run's server, and one Redis database per region for the cache.

They live on the same servers as the rest of the run in every mode (embedded, docker,
external), so their addresses are derived from the run's own: nothing more to configure. In
external mode the ``APEX_POSTGRES_DSN`` role must also be allowed to create databases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from apex import migrations
from apex.tenancy.provisioning import provision_regions
from apex.tenancy.regions import Region, database_name
from harness.errors import ServiceStartError
from harness.reporting.redaction import REDACTOR

if TYPE_CHECKING:  # harness.services imports this module
    from harness.services import PostgresEndpoint


def start_regions(admin_dsn: str) -> None:
    """Create the region databases and apply their schema (called once by start_services)."""
    try:
        provision_regions(admin_dsn)
    except psycopg.Error as exc:
        raise ServiceStartError(
            "PostgreSQL", f"region stores could not be provisioned ({REDACTOR.redact(str(exc))})",
            "Check that the DSN's role may create databases and roles.",
        ) from None


def region_dsns(postgres: PostgresEndpoint) -> dict[Region, str]:
    """Each region's database as the platform's non-owner role."""
    return {
        home: postgres.dsn_for(user=migrations.APP_ROLE, dbname=database_name(home))
        for home in Region
    }


def region_admin_dsns(postgres: PostgresEndpoint) -> dict[Region, str]:
    """Each region's database as the run's administrative role (observation, seeding)."""
    return {home: postgres.dsn_for(dbname=database_name(home)) for home in Region}
