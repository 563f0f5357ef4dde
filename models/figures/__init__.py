"""The figures of the dashboard's reports, computed from plain values (pure Python).

The read model (`tasks.read_model`) loads rows; these modules compute what the pages show
from them: rates, shares, medians, percentiles, deviations, counts per month. No database,
no web framework, so every figure is tested with values worked out by hand
(``tests/unit/test_figures_*.py``). The Kennzahlen of Bericht 01 are in `models.kennzahlen`.
"""
