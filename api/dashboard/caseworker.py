"""Integrationsfachkraft: Zuweisung, Schweigepflichtentbindung, Abschluss, Gutschein-PDF."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session

from models.process import Registry
from models.tables import Referral, User

router = APIRouter()


def case_context(
    session: Session, referral: Referral, user: User, registry: Registry, now: Any
) -> dict[str, Any]:
    """Extra template context for the case page (case.html.j2); empty by default."""
    return {}
