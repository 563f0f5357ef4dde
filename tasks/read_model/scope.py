"""Whose view a read-model query answers for (`Scope`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, True_

from models.tables import User


@dataclass(frozen=True)
class Scope:
    """The reader of a page and the referrals they may see.

    `cases` is the SQL condition on `Referral` that selects those referrals, built by the
    caller from the access rule (`api.access.scope`: a provider its own cases, a caseworker
    those of their site, coordination and administration every case). The read model adds
    it to every query and never widens it; `user` gives the role, provider, site and user
    name for the few rules that depend on them (a provider sees no customer numbers).
    """

    user: User
    cases: ColumnElement[bool]

    @property
    def everything(self) -> bool:
        """Whether the condition admits every referral (so a count may skip the join)."""
        return isinstance(self.cases, True_)
