"""What a case looks like in the Prefect UI (issue 10, point 2): run names, case tags, the
case's card (a keyed markdown artifact).

- **Names**: a flow run is named for its step (`models.run_names`); flows whose name
  needs data loaded in the run rename themselves (`rename_run`).
- **Tags**: every run that touches a case carries ``fall-<Aktenzeichen>``
  (`models.urls.case_tag`), up to `MAX_CASE_TAGS` cases per run; a run touching more (a
  catch-up sweep after downtime may touch hundreds) carries none of them, lists the
  Aktenzeichen in an artifact of its own instead (`tag_run_with_cases`), and each case's
  card is still updated by it.
- **Cards**: `publish_case_cards` rewrites the artifact ``fall-<aktenzeichen>``
  (`models.urls.case_artifact_key`) of each case a run touched. Prefect keeps every
  version under the key (the card's history), each linked to the run that wrote it.

Our database is the record (DESIGN §4.1): a card that could not be written is logged and
skipped, never a reason to fail a run whose state changes are saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import FlowRunContext
from prefect.utilities.context import get_task_and_flow_run_ids
from sqlmodel import col, select

from models.case_card import escape_markdown, render_card
from models.clock import local_date
from models.db import session
from models.german import anzahl
from models.process import load_registry
from models.settings import Settings
from models.tables import Referral
from models.urls import case_artifact_key, case_tag
from tasks.case_card import CommandStep, command_step, load_case_card
from tasks.steps import RETRIES

#: Up to this many cases a run is tagged with each case's tag; more would make the run's
#: tag list unreadable (and its row in the run list hundreds of tags long).
MAX_CASE_TAGS = 20


def rename_run(name: str) -> None:
    """Give the current flow run the name `name` (no-op outside a flow run). A failure to
    reach the Prefect API is logged, never raised: the name is for reading only."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, name=name)
    except Exception as exc:  # a name is not worth a failed run
        get_run_logger().warning("Lauf nicht umbenannt (%s)", type(exc).__name__)
        return
    context.flow_run.name = name


@task(
    name="Befehl laden",
    task_run_name="Befehl {command_id} laden",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def load_command_step(settings: Settings, command_id: int) -> CommandStep:
    """The step command `command_id` did (`tasks.case_card.command_step`): run name, case,
    referrals changed, or why it was refused."""
    with session(settings.database_url) as s:
        return command_step(s, command_id, load_registry(settings.process_dir))


@task(
    name="Fallakten aktualisieren",
    task_run_name="Fallakten aktualisieren",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=1,
)
def publish_case_cards(settings: Settings, referral_ids: Sequence[int], now: datetime) -> int:
    """Rewrite the card (keyed markdown artifact) of each referral in `referral_ids` as of
    `now` (aware); returns how many were written. A card Prefect refuses is logged
    (WARNING, Aktenzeichen only) and skipped. All cards of a call go over one client (one
    connection); Prefect's `create_markdown_artifact` would open a client per card."""
    if not referral_ids:
        return 0
    registry, today, written = load_registry(settings.process_dir), local_date(now), 0
    task_run_id, flow_run_id = get_task_and_flow_run_ids()
    with session(settings.database_url) as s, get_client(sync_client=True) as client:
        referrals = s.exec(
            select(Referral)
            .where(col(Referral.id).in_(list(referral_ids)))
            .order_by(col(Referral.id))
        )
        for referral in referrals:
            card = load_case_card(s, referral, registry, today)
            artifact = ArtifactCreate(
                type="markdown",
                key=case_artifact_key(card.reference),
                description=card.summary(),
                data=render_card(card),
                task_run_id=task_run_id,
                flow_run_id=flow_run_id,
            )
            written += _publish(client, card.reference, artifact)
    get_run_logger().info("Fallakten aktualisiert: %d", written)
    return written


def _publish(client: SyncPrefectClient, reference: str, artifact: ArtifactCreate) -> int:
    try:
        client.create_artifact(artifact)
    except Exception as exc:  # the database is the record, the card a view
        get_run_logger().warning(
            "Fallakte %s nicht aktualisiert (%s)", reference, type(exc).__name__
        )
        return 0
    return 1


@task(
    name="Lauf mit Faellen verschlagworten",
    task_run_name="Lauf mit Faellen verschlagworten",
    cache_policy=NO_CACHE,
)
def tag_run_with_cases(references: list[str]) -> None:
    """Tag the current flow run ``fall-<Aktenzeichen>`` per case (`models.urls.case_tag`),
    so a coordinator finds a case's runs in the Prefect UI (the case page links there).

    More than `MAX_CASE_TAGS` cases: no case tag; an artifact of the run lists the
    Aktenzeichen (the cases' cards are updated all the same). The Aktenzeichen is the
    Fachverfahren's pseudonymous id: no name reaches Prefect."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or not references:
        return
    if len(references) > MAX_CASE_TAGS:
        _list_cases(references)
        return
    run = context.flow_run
    tags = sorted(set(run.tags) | {case_tag(r) for r in references})
    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, tags=tags)
    run.tags = tags


def _list_cases(references: list[str]) -> None:
    count = anzahl(len(references), "Fall", "Fälle")
    get_run_logger().info(
        "%s berührt: mehr als %d, daher keine Schlagworte je Fall; die Aktenzeichen stehen "
        "im Artefakt des Laufs",
        count,
        MAX_CASE_TAGS,
    )
    lines = [
        f"# {count} in diesem Lauf",
        "",
        *(f"- {escape_markdown(r)}" for r in sorted(references)),
    ]
    create_markdown_artifact(
        markdown="\n".join(lines) + "\n", description=f"Aktenzeichen der {count} dieses Laufs"
    )
