"""The coordinator dashboard: server-rendered German HTML (Jinja2), no external assets."""
