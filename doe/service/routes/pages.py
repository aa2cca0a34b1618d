"""The web page for the bench: sign in, claim, record, correct, fail, release.

Server-rendered Jinja2 forms (plus a few lines of vanilla JS); no build step. Each
form posts to a route here, which calls the same actions as the JSON API and then
redirects (303) back to the campaign page, or renders the page again with the
server's message next to the field it is about.

Sign-in: the user pastes their API token into the form of ``/login``; the
service sets an HttpOnly, SameSite=Lax session cookie (Secure when the settings
say so) holding a random session id, which maps to the user in ``doe_sessions``.
Every form carries a CSRF token derived from the session id.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from doe.campaign import Campaign, list_campaigns
from doe.definition import STRATEGY_NAMES
from doe.exceptions import DoeError, StorageError
from doe.ledger import FAILURE_KINDS
from doe.service import actions
from doe.service.deps import (
    NamePath,
    PageSession,
    PageSessionDep,
    SettingsDep,
    StoreDep,
    TrialPath,
    load_campaign,
)
from doe.service.errors import status_for
from doe.service.routes.campaigns import campaign_summary
from doe.service.schemas import TrialPublic
from doe.service.templating import templates

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

N_HISTORY = 12
_MESSAGES = {
    "claimed": "You claimed trial {n}: its settings and result form are below.",
    "released": "Trial {n} is released; someone else can claim it now.",
    "recorded": "Trial {n} is recorded. Thank you!",
    "replayed": "Trial {n} was already recorded with these values; nothing changed.",
    "failed": "Trial {n} is marked failed.",
    "corrected": "Trial {n} is corrected; the values it replaced are kept with it.",
    "unchanged": "Trial {n} already holds these values; nothing changed.",
    "suggested": "New experiments from trial {n} on are pending; staff can claim them.",
}


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (file fields are ignored)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(_form)]


def _check_post(session: PageSession, form: dict[str, str], role: str) -> None:
    """A form post must carry the session's CSRF token and come from ``role``+."""
    if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
        raise HTTPException(
            403, "The form is stale or from another site; reload the page and retry."
        )
    if not session.user.has_role(role):
        raise HTTPException(
            403,
            f"User {session.user.name!r} has role {session.user.role!r}; this needs "
            f"{role!r} or above.",
        )


def _back(name: str, done: str, trial: int) -> RedirectResponse:
    return RedirectResponse(
        f"/campaigns/{name}?done={done}&trial={trial}#trial-{trial}", status_code=303
    )


# --------------------------------------------------------------- sign-in
@router.get("/login")
def get_login(*, request: Request) -> Response:
    """The sign-in form."""
    return templates.TemplateResponse(request, "login.html", {"user": None})


@router.post("/login")
def post_login(
    *,
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Check the token, start a session, set the cookie, go to the campaigns."""
    user = store.user_for_token(token.strip())
    if user is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"user": None, "error": "That token is unknown or revoked."},
            status_code=401,
        )
    session_id = store.create_session(user, hours=settings.session_hours)
    actions.audit(store, user, "login")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        settings.cookie_name,
        session_id,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookie,
        path="/",
    )
    return response


@router.post("/logout")
def post_logout(
    *, session: PageSessionDep, settings: SettingsDep, store: StoreDep, form: FormDep
) -> Response:
    """End the session and clear the cookie."""
    _check_post(session, form, "viewer")
    store.delete_session(session.session_id)
    actions.audit(store, session.user, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        settings.cookie_name,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookie,
    )
    return response


# ----------------------------------------------------------------- pages
@router.get("/")
def get_index(
    *, request: Request, session: PageSessionDep, settings: SettingsDep, store: StoreDep
) -> Response:
    """Every campaign and its progress."""
    names = (
        [d.name for d in list_campaigns(settings.storage)] if store.has_ledger() else []
    )
    summaries = [campaign_summary(load_campaign(n, settings, store)) for n in names]
    return templates.TemplateResponse(
        request,
        "index.html",
        {"user": session.user, "csrf": session.csrf, "campaigns": summaries},
    )


def _render_campaign(
    request: Request,
    session: PageSession,
    campaign: Campaign,
    *,
    status: int = 200,
    message: str | None = None,
    error: str | None = None,
    form_errors: dict[int, dict[str, str]] | None = None,
    form_values: dict[int, dict[str, str]] | None = None,
    what_if: dict[str, Any] | None = None,
    full_history: bool = False,
    pull_form: dict[str, Any] | None = None,
    batch_form: dict[str, Any] | None = None,
) -> Response:
    """The campaign page, optionally with a message, an error, or field errors.

    ``what_if``: the what-if card's ``values`` (as typed) and its ``result`` (a
    row of :meth:`Campaign.predict`) or ``error``. ``pull_form``: the fixed-knob
    claim form's ``values`` (as typed) and ``errors`` (by knob); ``batch_form``
    the same for the owner's batch form (errors by field: ``n``,
    ``fixed.<knob>``, ``shared``).
    """
    d = campaign.definition
    trials = [TrialPublic.from_record(t) for t in campaign.trials()]
    pending = [t for t in trials if t.state == "pending"]
    finished = sorted(
        (t for t in trials if t.state != "pending"),
        key=lambda t: (t.finished_at or "", t.trial),
        reverse=True,
    )
    valid = {o.name: o.valid_range for o in d.objectives if o.valid_range}
    context: dict[str, Any] = {
        "user": session.user,
        "csrf": session.csrf,
        "name": campaign.name,
        "summary": campaign_summary(campaign),
        "params": [(p.name, p.unit) for p in d.space.parameters],
        "bounds": {p.name: (p.low, p.high) for p in d.space.parameters},
        "bounds_unit": {p.name: p.unit for p in d.space.parameters},
        "pull_form": pull_form,
        "batch_form": batch_form,
        "strategies": STRATEGY_NAMES,
        "objectives": [(o.name, d.outcome_unit(o.name)) for o in d.objectives],
        "has_limits": bool(d.limits),
        "what_if": what_if or {"values": {}},
        "outcomes": [
            (n, d.outcome_unit(n), i < len(d.objectives), valid.get(n))
            for i, n in enumerate(d.outcome_names)
        ],
        "failure_kinds": FAILURE_KINDS,
        "mine": [t for t in pending if t.claimed_by == session.user.name],
        "pending": pending,
        "history": finished if full_history else finished[:N_HISTORY],
        "n_finished": len(finished),
        "message": message,
        "error": error,
        "form_errors": form_errors or {},
        "form_values": form_values or {},
        "can_write": session.user.has_role("staff"),
        "is_owner": session.user.has_role("owner"),
    }
    return templates.TemplateResponse(
        request, "campaign.html", context, status_code=status
    )


@router.get("/campaigns/{name}")
def get_campaign_page(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    done: str | None = None,
    trial: int | None = None,
    history: Annotated[str | None, Query(pattern="^all$")] = None,
) -> Response:
    """A campaign: progress, my experiments, pending ones, history, the plots.

    ``history=all`` lists every finished experiment, not only the recent ones.
    """
    campaign = load_campaign(name, settings, store)
    message = None
    if done in _MESSAGES and trial is not None:
        message = _MESSAGES[done].format(n=trial)
    return _render_campaign(
        request, session, campaign, message=message, full_history=history == "all"
    )


@router.get("/campaigns/{name}/what-if")
def get_what_if(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
) -> Response:
    """The campaign page with the model's view of the knobs in the query.

    The query holds ``k:<knob>=<value>`` (the what-if form); nothing is written,
    so viewers may ask and no CSRF token is needed.
    """
    campaign = load_campaign(name, settings, store)
    values = {
        k.removeprefix("k:"): v.strip()
        for k, v in request.query_params.items()
        if k.startswith("k:") and v.strip()
    }
    try:
        frame = campaign.predict([values])
    except DoeError as exc:
        return _failed_action(
            request,
            session,
            campaign,
            exc,
            banner=False,
            what_if={"values": values, "error": str(exc)},
        )
    result = frame.iloc[0].to_dict()
    return _render_campaign(
        request, session, campaign, what_if={"values": values, "result": result}
    )


def _failed_action(
    request: Request,
    session: PageSession,
    campaign: Campaign,
    exc: DoeError,
    *,
    banner: bool = True,
    **context: Any,
) -> Response:
    """Show the page again with the error of a form (storage errors propagate).

    ``banner``: the error heads the page (else a card shows it, from
    ``context``); ``context``: more of :func:`_render_campaign`'s keywords.
    """
    if isinstance(exc, StorageError):
        raise exc
    return _render_campaign(
        request,
        session,
        campaign,
        status=status_for(exc),
        error=str(exc) if banner else None,
        **context,
    )


def _filled(form: dict[str, str], prefix: str) -> dict[str, str]:
    """The fields named ``<prefix><name>`` that are filled in, by name."""
    return {
        k.removeprefix(prefix): v.strip()
        for k, v in form.items()
        if k.startswith(prefix) and v.strip()
    }


def _outcomes_of(form: dict[str, str]) -> dict[str, str]:
    """The outcome fields (``out:<name>``) that are filled in."""
    return _filled(form, "out:")


def _field_errors(
    request: Request,
    session: PageSession,
    campaign: Campaign,
    exc: actions.FieldErrors,
    *,
    trial: int,
    form: dict[str, str],
    what: str,
) -> Response:
    """The page again (422): each message by its field, what was typed kept."""
    errors = {k.removeprefix("outcomes."): v for k, v in exc.fields.items()}
    return _render_campaign(
        request,
        session,
        campaign,
        status=422,
        error=f"Trial {trial} was not {what}: fix the marked fields.",
        form_errors={trial: errors},
        form_values={trial: form},
    )


# ----------------------------------------------------------------- forms
@router.post("/campaigns/{name}/pull")
def post_pull(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    form: FormDep,
) -> Response:
    """Claim the next experiment for the signed-in user.

    Knob fields (``fix:<knob>``) that are filled in are held fixed.
    """
    _check_post(session, form, "staff")
    campaign = load_campaign(name, settings, store)
    fixed = _filled(form, "fix:")
    try:
        rec = actions.pull(
            store,
            campaign,
            user=session.user,
            lease_hours=settings.lease_hours,
            fixed=fixed,
        )
    except actions.FieldErrors as exc:
        errors = {k.removeprefix("fixed."): v for k, v in exc.fields.items()}
        whole = errors.pop("fixed", None)
        return _render_campaign(
            request,
            session,
            campaign,
            status=422,
            error=whole or "No experiment was claimed: fix the marked knobs.",
            pull_form={"values": fixed, "errors": errors},
        )
    except DoeError as exc:
        return _failed_action(request, session, campaign, exc)
    return _back(name, "claimed", rec.number)


@router.post("/campaigns/{name}/suggestions")
def post_suggestions(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    form: FormDep,
) -> Response:
    """Ask for a batch (owners): ``n``, ``strategy``, ``fix:<knob>``, ``share:<knob>``."""
    _check_post(session, form, "owner")
    campaign = load_campaign(name, settings, store)
    fixed = _filled(form, "fix:")
    shared = [k.removeprefix("share:") for k in form if k.startswith("share:")]
    values = {k: v for k, v in form.items() if k != "csrf"}
    text = form.get("n", "").strip()
    n = int(text) if text.isdigit() else 0
    if not 1 <= n <= 64:
        return _batch_errors(
            request, session, campaign, values,
            {"n": f"The number of experiments must be a whole number from 1 to 64; got {text!r}."},
        )  # fmt: skip
    try:
        records = actions.suggest(
            store,
            campaign,
            n,
            user=session.user,
            strategy=form.get("strategy") or None,
            claim=False,
            lease_hours=None,
            fixed=fixed,
            shared=shared,
        )
    except actions.FieldErrors as exc:
        return _batch_errors(request, session, campaign, values, exc.fields)
    except DoeError as exc:
        return _failed_action(
            request, session, campaign, exc, batch_form={"values": values}
        )
    first = records[0].number
    return RedirectResponse(
        f"/campaigns/{name}?done=suggested&trial={first}#pending-list", status_code=303
    )


def _batch_errors(
    request: Request,
    session: PageSession,
    campaign: Campaign,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    """The page again (422) with the batch form's errors by field; nothing written."""
    return _render_campaign(
        request,
        session,
        campaign,
        status=422,
        error="No batch was asked for: fix the marked fields.",
        batch_form={"values": values, "errors": errors},
    )


@router.post("/campaigns/{name}/trials/{trial}/release")
def post_release(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    trial: TrialPath,
    form: FormDep,
) -> Response:
    """Release a claim."""
    _check_post(session, form, "staff")
    campaign = load_campaign(name, settings, store)
    try:
        actions.release(store, campaign, trial, user=session.user)
    except DoeError as exc:
        return _failed_action(request, session, campaign, exc)
    return _back(name, "released", trial)


@router.post("/campaigns/{name}/trials/{trial}/result")
def post_result(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    trial: TrialPath,
    form: FormDep,
) -> Response:
    """Record a result from the form; errors are shown next to their fields."""
    _check_post(session, form, "staff")
    campaign = load_campaign(name, settings, store)
    raw = _outcomes_of(form)
    try:
        written = actions.record_result(
            store,
            campaign,
            trial,
            raw,
            user=session.user,
            note=form.get("note", "").strip() or None,
        )
    except actions.FieldErrors as exc:
        return _field_errors(
            request, session, campaign, exc, trial=trial, form=form, what="recorded"
        )
    except DoeError as exc:
        return _failed_action(request, session, campaign, exc)
    return _back(name, "recorded" if written.is_new else "replayed", trial)


@router.post("/campaigns/{name}/trials/{trial}/failure")
def post_failure(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    trial: TrialPath,
    form: FormDep,
) -> Response:
    """Mark an experiment failed (kind and note)."""
    _check_post(session, form, "staff")
    campaign = load_campaign(name, settings, store)
    try:
        actions.fail_trial(
            store,
            campaign,
            trial,
            form.get("kind", ""),
            form.get("note", "").strip(),
            user=session.user,
        )
    except DoeError as exc:
        return _failed_action(
            request,
            session,
            campaign,
            exc,
            form_errors={trial: {"kind": str(exc)}},
            form_values={trial: form},
        )
    return _back(name, "failed", trial)


@router.post("/campaigns/{name}/trials/{trial}/correction")
def post_correction(
    *,
    request: Request,
    session: PageSessionDep,
    settings: SettingsDep,
    store: StoreDep,
    name: NamePath,
    trial: TrialPath,
    form: FormDep,
) -> Response:
    """Correct a recorded result from the history's form (fields left empty stay).

    Staff correct results they recorded, owners anyone's; errors are shown next
    to their fields, with the correction form open and what was typed kept.
    """
    _check_post(session, form, "staff")
    campaign = load_campaign(name, settings, store)
    raw = _outcomes_of(form)
    try:
        written = actions.correct_result(
            store,
            campaign,
            trial,
            raw,
            form.get("note", "").strip(),
            user=session.user,
        )
    except actions.FieldErrors as exc:
        return _field_errors(
            request, session, campaign, exc, trial=trial, form=form, what="corrected"
        )
    except DoeError as exc:
        return _failed_action(request, session, campaign, exc)
    return _back(name, "corrected" if written.is_new else "unchanged", trial)
