"""Tenant configuration, isolated by the database.

* :mod:`~apex.tenancy.service`: the API (read, list, write, delete, audit trail) for an
  authenticated :class:`~apex.tenancy.model.Principal`.
* :mod:`~apex.tenancy.session`: the one way to act for a tenant in PostgreSQL (``SET LOCAL``
  per transaction, read by row-level security).
* :mod:`~apex.tenancy.regions`, :mod:`~apex.tenancy.directory`: data residency.
* :mod:`~apex.tenancy.cipher`: secrets sealed with AES-GCM, key per region.
* :mod:`~apex.tenancy.audit`: the append-only trail.
* :mod:`~apex.tenancy.cache`, :mod:`~apex.tenancy.jobs`: the Redis cache and the job that
  refreshes it.
* :mod:`~apex.tenancy.provisioning`: region databases and their schema.
"""
