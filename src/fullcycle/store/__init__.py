"""The control-plane database: engine, sessions, the declarative base and migrations."""
