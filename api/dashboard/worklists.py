"""Arbeitslisten: Fallliste (/dashboard/faelle) und Eskalationen (/dashboard/eskalationen)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
