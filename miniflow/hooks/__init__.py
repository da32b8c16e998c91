"""Hooks: clients for external systems, configured by a connection id (see
`miniflow.connections`): SQL databases (`DbApiHook` with SQLite and PostgreSQL) and
HTTP (`HttpHook`)."""
