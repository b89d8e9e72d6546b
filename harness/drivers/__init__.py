"""How the DSL reaches the platform. Only drivers (and apex/) import client libraries."""
