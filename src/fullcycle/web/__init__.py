"""The web UI: server-rendered pages (Jinja2 + htmx + Pico CSS) and their static files."""
