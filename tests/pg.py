"""A throwaway PostgreSQL database for tests, on the local cluster (see
:mod:`central.local`)."""

from central.local import SERVER_DSN, server_reachable, throwaway_database

__all__ = ["SERVER_DSN", "server_reachable", "throwaway_database"]
