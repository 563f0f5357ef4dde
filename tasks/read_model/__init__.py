"""The read model: the set-based queries behind the dashboard's pages and reports.

One module per page's data (`overview`, `worklists`, `providers`, `provider_choice`,
`planning`, `reports`); each returns plain dataclasses or rows, and the pure figures
computed from them live in the domain (`models.figures`, `models.kennzahlen`). Every query
is limited to the cases of a `Scope` (`tasks.read_model.scope`), built by the caller from
`api.access.visible`; `api.dashboard` keeps request parsing and rendering only.
"""
