"""Issue #15: the solver budgets on what the provider bills (rental_terms.toml), spot offers included."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogs.loader import load_rental_terms
from planner.search.problem import make_problem
from planner.search.solver import solve
from planner.types.errors import InputError
from planner.types.requests import Availability, SolveRequest

FAST = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
H100_PROVIDERS = sorted(load_rental_terms().offer["h100-sxm"])


@st.composite
def rented(draw):
    provider = draw(st.sampled_from(H100_PROVIDERS))
    terms = load_rental_terms().offer["h100-sxm"][provider]
    spot = terms.spot_price_usd_per_gpu_hour is not None and draw(st.booleans())
    availability = [Availability(gpu="h100-sxm", max_count=draw(st.integers(8, 1024)))]
    if draw(st.booleans()):
        return SolveRequest(budget_usd=draw(st.floats(5e3, 5e6)), deadline_hours=draw(st.floats(6.0, 2000.0)),
                            availability=availability, provider=provider, spot=spot)
    return SolveRequest(objective="min_cost", params=draw(st.floats(1e8, 3e10)), tokens=draw(st.floats(1e9, 5e11)),
                        deadline_hours=draw(st.floats(24.0, 3000.0)), availability=availability, provider=provider,
                        spot=spot)


@FAST
@given(rented())
def test_cost_on_billed_time_is_never_below_cost_on_used_time_and_meets_the_budget(request):
    result = solve(request)
    if not result.feasible:
        return
    plan = result.plan
    terms = load_rental_terms().offer["h100-sxm"][request.provider]
    used_cost = plan.price_usd_per_gpu_hour * plan.gpus * plan.wall_clock_hours
    assert plan.provider.startswith(request.provider)
    assert plan.billed_hours >= plan.wall_clock_hours * (1 - 1e-9)
    assert plan.cost_usd >= used_cost * (1 - 1e-9)
    assert math.isclose(plan.cost_usd, plan.price_usd_per_gpu_hour * plan.billed_gpus * plan.billed_hours, rel_tol=1e-9)
    assert math.isclose(plan.billed_hours * 3600, terms.billed_seconds(plan.wall_clock_hours * 3600), rel_tol=1e-9)
    assert plan.billed_gpus == plan.gpus == terms.rentable_gpus(plan.gpus)
    if request.budget_usd is not None:
        assert plan.cost_usd <= request.budget_usd * (1 + 1e-9)
    if terms.max_rental_gpus:
        assert plan.gpus <= terms.max_rental_gpus


def test_weekly_blocks_are_paid_for_and_a_short_run_says_it_does_not_amortise_its_block():
    gpus = [Availability(gpu="h100-sxm", max_count=512)]
    weekly = solve(SolveRequest(budget_usd=5e4, deadline_hours=30, availability=gpus, provider="lambda-1cc")).plan
    assert weekly.billed_hours == 168 and weekly.wall_clock_hours <= 30
    assert any("not amortised" in note and "168 h" in note for note in weekly.notes)
    continuous = solve(SolveRequest(budget_usd=5e4, deadline_hours=30, availability=gpus)).plan
    # paying a week for 30 h buys fewer GPU-hours of use than continuous billing: a worse model
    assert weekly.gpu_hours < continuous.gpu_hours and weekly.loss > continuous.loss


def test_spot_preemptions_lower_goodput_and_price():
    gpus = [Availability(gpu="h100-sxm", max_count=64)]
    base = dict(objective="min_time", params=7e9, tokens=2e11, budget_usd=1e6, availability=gpus, provider="aws")
    on_demand = solve(SolveRequest(**base)).plan
    spot = solve(SolveRequest(**base, spot=True)).plan
    assert spot.gpus == on_demand.gpus == 64
    terms = load_rental_terms().offer["h100-sxm"]["aws"]
    assert spot.price_usd_per_gpu_hour == terms.spot_price_usd_per_gpu_hour
    assert spot.goodput < on_demand.goodput and spot.wall_clock_hours > on_demand.wall_clock_hours
    assert spot.expected_interruptions > on_demand.expected_interruptions
    ctx = make_problem(SolveRequest(**base, spot=True))
    added = ctx.reliability_for(ctx.offers[0]).failure_rate_per_gpu_hour - ctx.reliability.failure_rate_per_gpu_hour
    assert math.isclose(added, terms.spot_interruptions_per_hour / terms.min_rental_gpus)


@pytest.mark.parametrize("fields, field", [
    (dict(provider="nobody"), "provider"),
    (dict(spot=True), "spot"),
    (dict(provider="lambda", spot=True), "spot"),
    (dict(provider="lambda", availability=[Availability(gpu="a100-80gb", max_count=8)]), "provider"),
])
def test_bad_rental_requests_name_the_field(fields, field):
    with pytest.raises(InputError) as error:
        solve(SolveRequest(budget_usd=1e5, **{"availability": [Availability(gpu="h100-sxm", max_count=64)], **fields}))
    assert error.value.field == field


@pytest.mark.parametrize("fields", [
    dict(budget_usd=1e5),
    dict(objective="min_cost", params=1e8, tokens=1e9, deadline_hours=24.0),
])
def test_no_rentable_count_is_infeasible_with_the_smallest_rentable_count_as_fix(fields):
    result = solve(SolveRequest(availability=[Availability(gpu="h100-sxm", max_count=8)], provider="lambda-1cc",
                                **fields))
    assert not result.feasible and result.infeasibility.binding_constraint == "availability"
    assert "16" in result.infeasibility.fix and "lambda-1cc" in result.message
