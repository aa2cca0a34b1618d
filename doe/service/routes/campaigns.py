"""``/api/campaigns``: list, create, definition and progress, suggest, pull, results."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status

from doe.campaign import Campaign, list_campaigns
from doe.ledger import FAILURE_KINDS
from doe.service import actions
from doe.service.deps import (
    CampaignsDep,
    NamePath,
    OwnerDep,
    SettingsDep,
    StaffDep,
    StoreDep,
    ViewerDep,
)
from doe.service.schemas import (
    CampaignCreate,
    CampaignPublic,
    CampaignSummary,
    DefinitionChangePublic,
    DefinitionUpdate,
    DefinitionUpdatePublic,
    ErrorPublic,
    PredictionsCreate,
    PullCreate,
    SuggestionsCreate,
    TrialPublic,
)

__all__ = ["campaign_public", "campaign_summary", "router"]

router = APIRouter(
    prefix="/api/campaigns",
    tags=["campaigns"],
    responses={
        401: {"model": ErrorPublic},
        403: {"model": ErrorPublic},
        404: {"model": ErrorPublic},
        503: {"model": ErrorPublic, "description": "Ledger locked or down."},
    },
)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def campaign_summary(campaign: Campaign) -> CampaignSummary:
    """A campaign's name, strategy, counts and hypervolume."""
    d = campaign.definition
    return CampaignSummary(
        name=d.name,
        description=d.description,
        strategy=d.strategy,
        counts=campaign.counts(),
        hypervolume=_finite(campaign.hypervolume()),
    )


def campaign_public(campaign: Campaign) -> CampaignPublic:
    """A campaign's definition, units and progress."""
    d = campaign.definition
    return CampaignPublic(
        **campaign_summary(campaign).model_dump(),
        definition=d.to_dict(),
        parameter_units={p.name: p.unit for p in d.space.parameters},
        outcome_units={n: d.outcome_unit(n) for n in d.outcome_names},
        objectives=[o.name for o in d.objectives],
        failure_kinds=list(FAILURE_KINDS),
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@router.get("", response_model=list[CampaignSummary])
def get_campaigns(
    *, user: ViewerDep, settings: SettingsDep, store: StoreDep
) -> list[CampaignSummary]:
    """Every campaign in the ledger, with its progress."""
    if not store.has_ledger():
        return []
    names = [d.name for d in list_campaigns(settings.storage)]
    return [
        campaign_summary(
            Campaign.load(name, settings.storage, tracking=settings.tracking)
        )
        for name in names
    ]


@router.post(
    "",
    response_model=CampaignPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorPublic}, 422: {"model": ErrorPublic}},
)
def create_campaign(
    body: CampaignCreate, user: OwnerDep, settings: SettingsDep, store: StoreDep
) -> CampaignPublic:
    """Create a campaign from the dict form of a campaign TOML file (owner)."""
    campaign = actions.create_campaign(
        store,
        body.definition,
        user=user,
        storage=settings.storage,
        tracking=settings.tracking,
    )
    return campaign_public(campaign)


@router.get("/{name}", response_model=CampaignPublic)
def get_campaign(
    *, user: ViewerDep, name: NamePath, campaigns: CampaignsDep
) -> CampaignPublic:
    """A campaign's definition, units, counts by state and hypervolume."""
    return campaign_public(campaigns(name))


@router.put(
    "/{name}/definition",
    response_model=DefinitionUpdatePublic,
    responses={
        409: {
            "model": ErrorPublic,
            "description": "It would change what the data mean (name, knobs, "
            "objectives), or leave an experiment outside a knob's bounds or a "
            "result outside its valid range.",
        },
        422: {"model": ErrorPublic, "description": "The definition is invalid."},
    },
)
def put_definition(
    *,
    body: DefinitionUpdate,
    user: OwnerDep,
    name: NamePath,
    campaigns: CampaignsDep,
    store: StoreDep,
) -> DefinitionUpdatePublic:
    """Apply a changed campaign file to a running campaign (owner); data stay.

    Thresholds, limits, valid ranges, outcomes, descriptions, the strategy and
    its settings may change, and a knob's bounds may move while every experiment
    stays inside them. ``dry_run`` lists the changes and writes nothing.
    """
    campaign = campaigns(name)
    result = actions.update_definition(
        store,
        campaign,
        body.definition,
        user=user,
        note=body.note,
        dry_run=body.dry_run,
    )
    return DefinitionUpdatePublic(
        written=result.written,
        from_hash=result.old.hash,
        to_hash=result.new.hash,
        changes=[
            DefinitionChangePublic(field=c.field, old=c.old, new=c.new)
            for c in result.changes
        ],
        campaign=campaign_public(campaign),
    )


@router.post(
    "/{name}/suggestions",
    response_model=list[TrialPublic],
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": ErrorPublic}},
)
def post_suggestions(
    *,
    body: SuggestionsCreate,
    user: OwnerDep,
    name: NamePath,
    campaigns: CampaignsDep,
    store: StoreDep,
) -> list[TrialPublic]:
    """Ask for ``n`` new experiments, conditioned on every pending one (owner)."""
    records = actions.suggest(
        store,
        campaigns(name),
        body.n,
        user=user,
        strategy=body.strategy,
        claim=body.claim,
        lease_hours=body.lease_hours,
        fixed=body.fixed,
        shared=body.shared,
    )
    return [TrialPublic.from_record(r) for r in records]


@router.post(
    "/{name}/pull",
    response_model=TrialPublic,
    responses={422: {"model": ErrorPublic}},
)
def post_pull(
    *,
    user: StaffDep,
    name: NamePath,
    campaigns: CampaignsDep,
    settings: SettingsDep,
    store: StoreDep,
    body: Annotated[PullCreate | None, Body()] = None,
) -> TrialPublic:
    """Claim an experiment for the caller: an unclaimed pending one, else a new one.

    With ``fixed`` knobs: the oldest unclaimed one that holds them, else a new
    one chosen around them.

    The claim is a lease (``claim_until``); release it, or let it expire, to give
    the experiment back to the pool.
    """
    hours = body.lease_hours if body and body.lease_hours else settings.lease_hours
    return TrialPublic.from_record(
        actions.pull(
            store,
            campaigns(name),
            user=user,
            lease_hours=hours,
            fixed=body.fixed if body else None,
        )
    )


@router.get("/{name}/pareto")
def get_pareto(
    *,
    user: ViewerDep,
    name: NamePath,
    campaigns: CampaignsDep,
    model: Annotated[
        bool,
        Query(
            description="Rank the measured experiments by the gp model's estimate "
            "of their expected outcomes (adds est_<outcome> and est_<outcome>_std; "
            "fits the model: seconds); empty while it cannot be fitted."
        ),
    ] = False,
) -> list[dict[str, Any]]:
    """The measured Pareto front (experiments meeting every limit), as rows."""
    rows = campaigns(name).pareto(model=model).to_dict(orient="records")
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in rows]


@router.post(
    "/{name}/predictions",
    responses={409: {"model": ErrorPublic}, 422: {"model": ErrorPublic}},
)
def post_predictions(
    *,
    body: PredictionsCreate,
    user: ViewerDep,
    name: NamePath,
    campaigns: CampaignsDep,
) -> list[dict[str, Any]]:
    """What the gp model expects of settings before they are tried; writes nothing.

    Per setting: the knobs, ``est_<outcome>`` and ``est_<outcome>_std`` (the
    expected outcome and its uncertainty), ``p_limits`` (the chance the expected
    outcomes meet every limit), ``nearest_trial`` and ``nearest_distance`` (0-1
    over the knobs' ranges), ``dominated_by`` (a measured experiment the model
    expects at least as good in every objective, else null). Fits the model:
    seconds. 409 while the campaign has too few measurements for a model.
    """
    rows = campaigns(name).predict(body.settings).to_dict(orient="records")
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in rows]


def _png(data: bytes) -> Response:
    """A PNG image, drawn afresh at every request (never cached)."""
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get(
    "/{name}/pareto.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The plot."}},
)
def get_pareto_png(
    *, user: ViewerDep, name: NamePath, campaigns: CampaignsDep
) -> Response:
    """The Pareto plot (first two objectives) as a PNG image."""
    from doe.report.plots import pareto_png

    return _png(pareto_png(campaigns(name)))


@router.get(
    "/{name}/progress.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The plot."}},
)
def get_progress_png(
    *, user: ViewerDep, name: NamePath, campaigns: CampaignsDep
) -> Response:
    """The hypervolume after each suggestion round, as a PNG image."""
    from doe.report.plots import progress_png

    return _png(progress_png(campaigns(name)))


@router.get(
    "/{name}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "The report."}},
)
def get_report_html(
    *,
    user: ViewerDep,
    name: NamePath,
    campaigns: CampaignsDep,
    model: Annotated[
        bool, Query(description="Fit the model (its front and quality).")
    ] = True,
) -> Response:
    """The campaign's progress as one self-contained HTML file (``doe report``)."""
    from doe.report import report_html

    campaign = campaigns(name)
    return Response(
        report_html(campaign, model=model),
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{campaign.name}-report.html"',
        },
    )


@router.get(
    "/{name}/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Every trial."}},
)
def get_export_csv(
    *, user: ViewerDep, name: NamePath, campaigns: CampaignsDep
) -> Response:
    """Every trial as CSV: settings, outcomes, predictions and provenance."""
    campaign = campaigns(name)
    text = campaign.table().to_csv(index=False)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{campaign.name}.csv"'},
    )
