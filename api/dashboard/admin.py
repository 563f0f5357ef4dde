"""Verwaltung: Träger, Standorte und Benutzer (issue 8 point 5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
