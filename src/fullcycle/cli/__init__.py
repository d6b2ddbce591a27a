"""The `fullcycle` command: runs the server, and talks to a running server's API."""
