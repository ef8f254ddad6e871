"""The cost rules: no RDS database slides into paid Extended Support, and the stack's estimated fixed monthly cost
stays within the AWS Budgets budget it declares. Each passes on the committed stacks and reports a real recorded
resource (or stack) with one property, or one setting, changed; values not known at preview are judged when known."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

import components.database as database
from ops.offline import cost as plan_cost
from ops.offline.verdicts import check, stack_args
from ops.paths import POLICY_DIR, PROJECT_ROOT
from tests.policy.conftest import (
    REMOVE,
    all_resource_violations,
    changed,
    pack_server,
    policies,
    replaced,
    resource_violations,
    stack_violations,
)

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
BUDGET = "aws:budgets/budget:Budget"
PROVIDER = "pulumi:providers:aws"
DISABLED = "open-source-rds-extended-support-disabled"
FIX = (f'set engine_lifecycle_support="{DISABLED}" (components/database.py), so that RDS upgrades the major version '
       "when its standard support ends instead of billing Extended Support per vCPU-hour (runbooks/upgrade-major.md: "
       "upgrade before that date)")


def _verdict(evaluation, name: str):
    _, verdicts = check(evaluation, policies)
    return next(v for v in verdicts if v.policy == name)


def _plan_estimate(evaluation) -> plan_cost.Estimate:
    """What `cruddur plan` prints for the stack: ops/offline/cost.py over the recorded inputs and outputs."""
    return plan_cost.estimate(evaluation.resources, evaluation.outputs, evaluation.config["aws:region"])


# -- rds-no-paid-extended-support ------------------------------------------------------------------------------------
def test_extended_support_rule_is_mandatory_on_every_stack_for_instances_and_clusters():
    rule = policies.rule("rds-no-paid-extended-support")
    assert (rule.kind, rule.enforcement, rule.environments) == ("resource", EnforcementLevel.MANDATORY,
                                                                ("dev", "prod"))
    assert rule.types == (INSTANCE, CLUSTER)
    assert "rds-no-paid-extended-support-dev" not in [r.name for r in policies.RULES]


def test_committed_stacks_opt_out_of_extended_support(dev, prod):
    for evaluation in (dev, prod):
        assert evaluation.one(INSTANCE).props["engineLifecycleSupport"] == DISABLED
        assert all_resource_violations("rds-no-paid-extended-support", evaluation) == []
        assert _verdict(evaluation, "rds-no-paid-extended-support").status == "pass"


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
@pytest.mark.parametrize("value, expected", [
    (REMOVE, "rds Instance 'db-instance' does not set engine_lifecycle_support, so RDS enrols it in paid Extended "
             f"Support when its major version's standard support ends; {FIX}"),
    ("open-source-rds-extended-support", "rds Instance 'db-instance' is enrolled in paid Extended Support "
                                         f"(engine_lifecycle_support 'open-source-rds-extended-support'); {FIX}"),
    ("", "rds Instance 'db-instance' does not set engine_lifecycle_support, so RDS enrols it in paid Extended "
         f"Support when its major version's standard support ends; {FIX}"),
    ("open-source-rds-extended-support-DISABLED", "rds Instance 'db-instance' has engine_lifecycle_support "
                                                  f"'open-source-rds-extended-support-DISABLED', which is not the "
                                                  f"opt-out; {FIX}"),
])
def test_an_instance_that_may_slide_into_extended_support_is_reported(request, stack_name, value, expected):
    evaluation = request.getfixturevalue(stack_name)
    instance = changed(evaluation.one(INSTANCE), engineLifecycleSupport=value)
    assert resource_violations("rds-no-paid-extended-support", evaluation, instance) == [expected]
    _, verdicts = check(replaced(evaluation, evaluation.one(INSTANCE), instance), policies)
    verdict = next(v for v in verdicts if v.policy == "rds-no-paid-extended-support")
    assert verdict.mandatory_violation and verdict.messages == [expected]


def test_a_cluster_without_the_opt_out_is_reported(prod):
    cluster = dataclasses.replace(changed(prod.one(INSTANCE), engineLifecycleSupport=REMOVE), type=CLUSTER,
                                  name="aurora")
    (message,) = resource_violations("rds-no-paid-extended-support", prod, cluster)
    assert message.startswith("rds Cluster 'aurora' does not set engine_lifecycle_support") and message.endswith(FIX)


def test_extended_support_unknown_at_preview_is_judged_when_known(prod):
    """As every rule of the pack: a value not known at preview is no violation then; `pulumi up` validates the
    resolved inputs before it creates or updates the instance, and the known value is judged there."""
    instance = prod.one(INSTANCE)
    preview = changed(instance, engineLifecycleSupport=UNKNOWN_STRING_VALUE)
    assert resource_violations("rds-no-paid-extended-support", prod, preview) == []
    up = changed(instance, engineLifecycleSupport="open-source-rds-extended-support")
    assert len(resource_violations("rds-no-paid-extended-support", prod, up)) == 1


def test_the_opt_out_is_the_programs():
    assert policies.rule("rds-no-paid-extended-support").validate.__module__ == "rules.database"
    from rules.constants import ENGINE_LIFECYCLE_SUPPORT

    assert ENGINE_LIFECYCLE_SUPPORT == database.ENGINE_LIFECYCLE_SUPPORT == DISABLED


# -- cost-within-budget: the committed stacks ------------------------------------------------------------------------
def test_cost_rule_is_mandatory_on_prod_and_advisory_on_dev():
    prod_rule, dev_rule = policies.rule("cost-within-budget"), policies.rule("cost-within-budget-dev")
    assert (prod_rule.kind, prod_rule.enforcement, prod_rule.environments, prod_rule.types) == (
        "stack", EnforcementLevel.MANDATORY, ("prod",), ())
    assert (dev_rule.enforcement, dev_rule.environments) == (EnforcementLevel.ADVISORY, ("dev",))


@pytest.mark.parametrize("stack_name, fixed, budget", [("dev", "21.77", "25"), ("prod", "71.88", "120")])
def test_committed_stacks_are_within_their_budgets(request, stack_name, fixed, budget):
    evaluation = request.getfixturevalue(stack_name)
    assert _plan_estimate(evaluation).fixed_total == Decimal(fixed)
    assert evaluation.one(BUDGET).props["limitAmount"] == budget
    name = "cost-within-budget" if stack_name == "prod" else "cost-within-budget-dev"
    assert _verdict(evaluation, name).status == "pass"
    assert stack_violations(name, evaluation) == []


# -- cost-within-budget: over the budget -----------------------------------------------------------------------------
def test_prod_over_its_budget_is_a_mandatory_violation(evaluate_with):
    over = evaluate_with("prod", overrides={"monthlyBudgetUsd": 50})
    assert _plan_estimate(over).fixed_total == Decimal("71.88")
    verdict = _verdict(over, "cost-within-budget")
    assert verdict.mandatory_violation
    assert verdict.messages == [
        "estimated fixed cost $71.88/month is above the budget $50/month (monthlyBudgetUsd); raise "
        "cruddur-db:monthlyBudgetUsd to at least 72 or cut the fixed cost: its largest lines are RDS db.t4g.small "
        "(Multi-AZ) $49.64 on db-instance and Restore test: jobs $6.52 on restore-drill-restore-testing "
        "(`cruddur plan prod` lists every line)"]
    assert _verdict(over, "cost-within-budget-dev").status == "n/a"


def test_dev_over_its_budget_is_an_advisory_violation(evaluate_with):
    over = evaluate_with("dev", overrides={"monthlyBudgetUsd": 10})
    _, verdicts = check(over, policies)
    statuses = {v.policy: (v.enforcement, v.status) for v in verdicts if v.policy.startswith("cost-within-budget")}
    assert statuses == {"cost-within-budget": ("mandatory", "n/a"), "cost-within-budget-dev": ("advisory", "violated")}
    (message,) = next(v for v in verdicts if v.policy == "cost-within-budget-dev").messages
    assert message.startswith("estimated fixed cost $21.77/month is above the budget $10/month (monthlyBudgetUsd); "
                              "raise cruddur-db:monthlyBudgetUsd to at least 22 or cut the fixed cost")
    assert not [v for v in verdicts if v.mandatory_violation]


def test_a_budget_equal_to_the_estimate_is_within_it(prod):
    budget = prod.one(BUDGET)
    at = replaced(prod, budget, changed(budget, limitAmount="71.88"))
    assert stack_violations("cost-within-budget", at) == []
    below = replaced(prod, budget, changed(budget, limitAmount="71.87"))
    assert stack_violations("cost-within-budget", below)[0].startswith(
        "estimated fixed cost $71.88/month is above the budget $71.87/month (monthlyBudgetUsd)")


def test_the_run_schedule_output_lowers_the_estimate_as_in_the_plan(evaluate_with):
    """A dev stack that stops its database outside working hours: the estimate reads the stack output
    dbScheduledHoursPerWeek from the root Stack resource (the engine passes the stack's outputs as its props)."""
    scheduled = evaluate_with("dev", overrides={"dbRunSchedule": "Mon-Fri 08:00-19:00 Europe/Dublin",
                                                "monthlyBudgetUsd": 15})
    assert _plan_estimate(scheduled).fixed_total < 15 < Decimal("21.77")
    assert stack_violations("cost-within-budget-dev", scheduled) == []
    args = stack_args(scheduled)
    root = next(r for r in args.resources if r.resource_type == "pulumi:pulumi:Stack")
    assert root.props["dbScheduledHoursPerWeek"] == 55
    without_outputs = StackValidationArgs([r for r in args.resources if r is not root])
    (message,) = policies.rule("cost-within-budget-dev").run(without_outputs)
    assert message.startswith("estimated fixed cost $21.77/month is above the budget $15/month")


# -- cost-within-budget: what it cannot judge or compare -------------------------------------------------------------
def test_a_stack_without_a_budget_is_a_violation(prod, dev):
    for evaluation, name in ((prod, "cost-within-budget"), (dev, "cost-within-budget-dev")):
        assert stack_violations(name, replaced(evaluation, evaluation.one(BUDGET))) == [
            "the stack declares no AWS Budgets budget; declare the budget: monthlyBudgetUsd "
            "(cruddur-db:monthlyBudgetUsd in the stack file; components/budget.py declares the aws.budgets.Budget "
            "from it)"]


@pytest.mark.parametrize("change, expected", [
    ({"limitAmount": "fifty"}, "budgets Budget 'budget-budget' has limit_amount 'fifty', not an amount in USD"),
    ({"limitAmount": "0"}, "budgets Budget 'budget-budget' has limit_amount '0', not an amount in USD"),
    ({"timeUnit": "ANNUALLY"}, "budgets Budget 'budget-budget' is a COST budget of 120 USD ANNUALLY, not a monthly "
                               "cost budget in USD"),
    ({"budgetType": "USAGE"}, "budgets Budget 'budget-budget' is a USAGE budget of 120 USD MONTHLY, not a monthly "
                              "cost budget in USD"),
])
def test_a_budget_the_estimate_cannot_be_compared_with_is_reported(prod, change, expected):
    budget = prod.one(BUDGET)
    (message,) = stack_violations("cost-within-budget", replaced(prod, budget, changed(budget, **change)))
    assert message.startswith(expected + "; declare the budget: monthlyBudgetUsd")


@pytest.mark.parametrize("typ, change, expected", [
    (INSTANCE, {"instanceClass": "db.z9.huge"},
        "the estimate cannot price backup RestoreTestingPlan 'restore-drill-restore-testing' (restore test of "
        "arn:aws:rds:eu-west-1:123456789012:db:cruddur-prod-db: its instance class is not priced); guardduty "
        "DetectorFeature 'audit-rds-protection' (RDS Protection of db-instance: vCPUs of db.z9.huge unknown); rds Instance "
        "'db-instance' (instance class db.z9.huge: no price in eu-west-1.json (add rds.instance.db.z9.huge)); so it "
        "cannot show the stack within its budget: once priced (ops/offline/cost.py and its price files, which "
        "policy/cost.py and policy/prices link to)"),
    (PROVIDER, {"region": "eu-north-1"},
        "cannot estimate the stack's fixed cost to compare it with its budget: no prices for region eu-north-1: add "
        "ops/offline/prices/eu-north-1.json (cruddur prices refresh --region eu-north-1 writes it); the pack prices "
        "with policy/cost.py and policy/prices/, links to ops/offline/'s estimator and price files"),
], ids=["a charge it cannot price is never taken as zero", "a region without prices"])
def test_what_the_estimate_cannot_price_is_reported(prod, typ, change, expected):
    resource = prod.one(typ)
    assert stack_violations("cost-within-budget", replaced(prod, resource, changed(resource, **change))) == [expected]


# -- cost-within-budget: values not known at preview -----------------------------------------------------------------
@pytest.fixture
def over_budget(evaluate_with):
    return evaluate_with("prod", overrides={"monthlyBudgetUsd": 50})


@pytest.mark.parametrize("name, props", [
    ("budget-budget", {"limitAmount": UNKNOWN_STRING_VALUE}),
    ("db-instance", {"instanceClass": UNKNOWN_STRING_VALUE}),
    ("db-instance", {"multiAz": UNKNOWN_STRING_VALUE}),
    ("db-instance", {"allocatedStorage": UNKNOWN_NUMBER_VALUE}),
    ("aws-pinned", {"region": UNKNOWN_STRING_VALUE}),
])
def test_a_value_the_estimate_reads_that_is_unknown_at_preview_is_judged_when_known(over_budget, name, props):
    resource = next(r for r in over_budget.resources if r.name == name)
    preview = replaced(over_budget, resource, changed(resource, **props))
    assert stack_violations("cost-within-budget", preview) == []
    assert len(stack_violations("cost-within-budget", over_budget)) == 1  # the same stack, every value known


def test_values_no_price_depends_on_do_not_keep_a_preview_from_being_judged(over_budget):
    """At a first preview every ARN, id and address is unknown: the estimate reads none of them."""
    instance, key = over_budget.one(INSTANCE), over_budget.one("aws:kms/key:Key", "data-key")
    preview = replaced(over_budget, instance, changed(instance, arn=UNKNOWN_STRING_VALUE,
                                                      address=UNKNOWN_STRING_VALUE, resourceId=UNKNOWN_STRING_VALUE))
    preview = replaced(preview, key, changed(key, arn=UNKNOWN_STRING_VALUE, keyId=UNKNOWN_STRING_VALUE))
    (message,) = stack_violations("cost-within-budget", preview)
    assert message.startswith("estimated fixed cost $71.88/month is above the budget $50/month")


# -- the pack's estimator and prices: the project's own, through links -----------------------------------------------
def test_the_pack_links_to_the_one_estimator_and_its_price_files():
    """policy/cost.py and policy/prices are git symlinks into ops/offline: one source, nothing to copy or keep equal."""
    assert (POLICY_DIR / "cost.py").is_symlink() and (POLICY_DIR / "prices").is_symlink()
    assert (POLICY_DIR / "cost.py").resolve() == (PROJECT_ROOT / "ops" / "offline" / "cost.py").resolve()
    assert (POLICY_DIR / "prices").resolve() == (PROJECT_ROOT / "ops" / "offline" / "prices").resolve()
    assert sorted(p.name for p in (POLICY_DIR / "prices").iterdir()) == ["eu-central-1.json", "eu-west-1.json"]


def test_the_pack_prices_from_the_linked_folder():
    from rules import budget

    assert budget.PRICES_DIR == (PROJECT_ROOT / "ops" / "offline" / "prices").resolve()
    assert budget.cost.__file__ == str(POLICY_DIR / "cost.py")


# -- the pack process, as `pulumi preview --policy-pack ./policy` starts it, without the project ---------------------
# The pack runs in its own virtualenv (policy/venv): neither ops nor components can be imported there.
WITHOUT_THE_PROJECT = ("import runpy, sys; sys.modules.update(ops=None, components=None); sys.path.insert(0, '.'); "
                       "runpy.run_path('__main__.py', run_name='__main__')")


@pytest.fixture(scope="module")
def pack_process():
    with pack_server(["-c", WITHOUT_THE_PROJECT]) as stub:
        yield stub


def _stack_request(evaluation) -> analyzer_pb2.AnalyzeStackRequest:
    """The engine's AnalyzeStack request: every custom resource's outputs, with its provider."""
    def struct(values: dict) -> struct_pb2.Struct:
        message = struct_pb2.Struct()
        message.update(json.loads(json.dumps(values, default=str)))
        return message

    resources = []
    for r in evaluation.resources:
        if not r.custom:
            continue
        provider = evaluation.by_urn(r.provider.rsplit("::", 1)[0]) if r.provider else None
        resources.append(analyzer_pb2.AnalyzerResource(
            type=r.type, properties=struct(r.outputs), urn=r.urn, name=r.name,
            provider=analyzer_pb2.AnalyzerProviderResource(type=provider.type, properties=struct(provider.props),
                                                           urn=provider.urn, name=provider.name) if provider else None))
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


def test_the_pack_process_prices_the_stack_without_the_project(pack_process, over_budget, prod):
    response = pack_process.AnalyzeStack(_stack_request(over_budget))
    cost_diagnostics = [d for d in response.diagnostics if d.policyName.startswith("cost-within-budget")]
    assert [(d.policyName, d.enforcementLevel) for d in cost_diagnostics] == [
        ("cost-within-budget", analyzer_pb2.MANDATORY)]
    assert ("estimated fixed cost $71.88/month is above the budget $50/month (monthlyBudgetUsd)"
            in cost_diagnostics[0].message)
    response = pack_process.AnalyzeStack(_stack_request(prod))
    assert [d.policyName for d in response.diagnostics if d.policyName.startswith("cost-within-budget")] == []


def test_the_root_stack_carries_the_outputs_but_no_region_of_its_own(prod):
    """The engine passes the root Stack resource with the stack's outputs as props: an output named region is not
    where a resource lives, so region-allowed does not judge it."""
    args = stack_args(prod)
    root = next(r for r in args.resources if r.resource_type == "pulumi:pulumi:Stack")
    assert (root.name, root.urn) == ("cruddur-db-prod", "urn:pulumi:prod::cruddur-db::pulumi:pulumi:Stack::"
                                                        "cruddur-db-prod")
    assert root.props["region"] == "eu-west-1" and root.props["budgetName"] == "cruddur-prod-monthly"
    root.props = {**policies.plain(root.props), "region": "us-east-1"}
    assert policies.rule("region-allowed").run(StackValidationArgs(args.resources, {"allowedRegions": ["eu-west-1"]})) == []


# -- prod-database-never-scheduled-off -------------------------------------------------------------------------------
SCHEDULE = "aws:scheduler/schedule:Schedule"
WORKDAYS = "Mon-Fri 08:00-19:00 Europe/Dublin"


def test_the_schedule_rule_judges_prod_only(evaluate_with):
    rule = policies.rule("prod-database-never-scheduled-off")
    assert (rule.kind, rule.enforcement, rule.environments, rule.types) == (
        "resource", EnforcementLevel.MANDATORY, ("prod",), (SCHEDULE,))
    scheduled_dev = evaluate_with("dev", overrides={"dbRunSchedule": WORKDAYS})
    assert len(scheduled_dev.of_type(SCHEDULE)) == 2
    assert _verdict(scheduled_dev, "prod-database-never-scheduled-off").status == "n/a"


def test_a_schedule_that_stops_a_prod_database_is_a_mandatory_violation(evaluate_with, prod):
    """A prod program that declares dev's stop schedule (the settings refuse dbRunSchedule on prod; the pack judges
    what any program declares)."""
    scheduled_dev = evaluate_with("dev", overrides={"dbRunSchedule": WORKDAYS})
    stop, start = (dataclasses.replace(s, urn=s.urn.replace("urn:pulumi:dev::", "urn:pulumi:prod::"))
                   for name in ("stop", "start") for s in scheduled_dev.of_type(SCHEDULE)
                   if s.name == f"db-schedule-{name}")  # the same schedules, declared in the prod stack
    assert resource_violations("prod-database-never-scheduled-off", prod, stop) == [
        "scheduler Schedule 'db-schedule-stop' stops the database on a schedule "
        "(arn:aws:scheduler:::aws-sdk:rds:stopDBInstance); prod runs around the clock: remove the schedule (leave "
        "cruddur-db:dbRunSchedule empty on prod)"]
    cluster_stop = changed(stop, target={**stop.props["target"], "arn": "arn:aws:scheduler:::aws-sdk:rds:stopDBCluster"})
    assert len(resource_violations("prod-database-never-scheduled-off", prod, cluster_stop)) == 1
    assert resource_violations("prod-database-never-scheduled-off", prod, start) == []  # starting is harmless
