"""The scenarios of ``make aws-quirks`` (tests/support/aws_quirks/scenarios.py) without a run: the IAM engine's log
and its summaries, the verdicts, the listeners' weights, the certificate and the changed app, and the calls the
scenarios make, checked against the collection's deployer policy by the same engine the run enforces it with."""

from __future__ import annotations

import json
import sys
import time
from types import SimpleNamespace

import pytest

from tests.support.ansible_run import ROOT, link_collection
from tests.support.aws_quirks.iam import Principal, checks_for, resources_of
from tests.support.aws_quirks.rules import Checked, IamScoping, StrictValidation
from tests.support.aws_quirks.runner import DEPLOYER, Run, Settings
from tests.support.aws_quirks.scenarios import (
    changed_app,
    denials,
    describe,
    listener_weights,
    missing,
    redirect_of,
    self_signed_certificate,
    strict_delta,
    summarize,
    weight_problems,
)
from tests.support.aws_quirks.wire import Request

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.filter.deployer_policy import deployer_policy

from tests.unit.plugins.filter.test_deployer_policy import ACCOUNT, REGION, names

FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:shop-app"
SCALER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:shop-scaler"
LOAD_BALANCER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/shop/50dc6c495c0c9188"
LAMBDA_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/shop-lambda/73e2d6bc24d8a067"
ECS_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/shop-ecs/8e4a1b2c3d4e5f60"
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/shop-app"
TAG = [{"Key": "quirks:scenario", "Value": "dropped-later"}]
EC2_IDS = ["sg-0a1b2c3d4e5f60718", "vpc-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f6071", "igw-0a1b2c3d", "rtb-0a1b2c3d"]


class StackState:
    """The local AWS as a deployed stack "shop" leaves it: its roles with its boundary, its EC2 resources tagged."""

    def role_boundary(self, role_name: str) -> str | None:
        return f"arn:aws:iam::{ACCOUNT}:policy/shop-boundary" if role_name.startswith("shop-") else None

    def ec2_tags(self, resource_id: str) -> dict[str, str]:
        return {"spillover:stack": "shop"} if resource_id in EC2_IDS else {}


def request(service: str, operation: str, params: dict) -> Request:
    return Request("POST", "/", {}, b"", service, operation, "KEY", REGION, params)


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


# The calls the scenarios make with the deployer's credentials, beyond a first deploy's (the modules' update paths).
SCENARIO_CALLS = {
    "code_change": [
        ("lambda", "UpdateFunctionCode", {"FunctionName": "shop-app", "ZipFile": "UEsDBA=="}),
        ("lambda", "GetFunctionConfiguration", {"FunctionName": "shop-app"}),  # function_active, function_updated
        (
            "ecs",
            "RegisterTaskDefinition",
            {"family": "shop-app", "executionRoleArn": role("shop-app-task-exec"), "containerDefinitions": []},
        ),
        ("ecs", "UpdateService", {"cluster": "shop", "service": "shop-app", "taskDefinition": "shop-app:2"}),
    ],
    "settings_change": [
        ("lambda", "UpdateFunctionConfiguration", {"FunctionName": "shop-app", "Role": role("shop-app-lambda")}),
        ("lambda", "UpdateFunctionConfiguration", {"FunctionName": "shop-scaler", "Role": role("shop-scaler")}),
        ("lambda", "GetFunctionConfiguration", {"FunctionName": "shop-scaler"}),
        ("lambda", "TagResource", {"Resource": FUNCTION, "Tags": {"quirks:scenario": "dropped-later"}}),
        ("elasticloadbalancing", "AddTags", {"ResourceArns": [LOAD_BALANCER, LAMBDA_GROUP], "Tags": TAG}),
        ("ec2", "CreateTags", {"ResourceId": EC2_IDS, "Tag": TAG}),
        ("iam", "TagRole", {"RoleName": "shop-scaler", "Tags": TAG}),
        ("logs", "TagLogGroup", {"logGroupName": "/aws/lambda/shop-scaler", "tags": {"quirks:scenario": "x"}}),
        ("ecs", "TagResource", {"resourceArn": SERVICE, "tags": [{"key": "quirks:scenario", "value": "x"}]}),
    ],
    "tag_removed": [
        ("lambda", "UntagResource", {"Resource": SCALER, "TagKeys": ["quirks:scenario"]}),
        ("elasticloadbalancing", "RemoveTags", {"ResourceArns": [ECS_GROUP], "TagKeys": ["quirks:scenario"]}),
        ("ec2", "DeleteTags", {"ResourceId": EC2_IDS, "Tag": [{"Key": "quirks:scenario"}]}),
        ("iam", "UntagRole", {"RoleName": "shop-app-lambda", "TagKeys": ["quirks:scenario"]}),
        ("logs", "UntagLogGroup", {"logGroupName": "/ecs/shop-app", "tags": ["quirks:scenario"]}),
        ("ecs", "UntagResource", {"resourceArn": SERVICE, "tagKeys": ["quirks:scenario"]}),
    ],
    "certificate": [
        (
            "elasticloadbalancing",
            "CreateListener",
            {
                "LoadBalancerArn": LOAD_BALANCER,
                "Protocol": "HTTPS",
                "Port": "443",
                "Certificates": [{"CertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/1234"}],
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": LAMBDA_GROUP}],
            },
        ),
        ("elasticloadbalancing", "ModifyListener", {"ListenerArn": LISTENER, "DefaultActions": [{"Type": "redirect"}]}),
        ("ec2", "AuthorizeSecurityGroupIngress", {"GroupId": "sg-0a1b2c3d4e5f60718", "IpPermissions": []}),
        ("iam", "PutRolePolicy", {"RoleName": "shop-scaler", "PolicyName": "shop-scaler", "PolicyDocument": "{}"}),
    ],
}


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [call for calls in SCENARIO_CALLS.values() for call in calls],
    ids=[f"{name}-{call[1]}" for name, calls in SCENARIO_CALLS.items() for call in calls],
)
def test_the_deployer_policy_grants_every_call_of_the_scenarios(service, operation, params):
    policy = deployer_policy(names())
    principal = Principal(role("spillover-deploy"), f"arn:aws:sts::{ACCOUNT}:assumed-role/spillover-deploy/s", ACCOUNT)
    checks = checks_for(request(service, operation, params), principal, [policy], StackState())
    assert [(check.action, check.message) for check in checks if not check.allowed] == []


def test_ec2_tagging_is_checked_on_each_resource_its_ids_name():
    tagging = request("ec2", "DeleteTags", {"ResourceId": EC2_IDS[:2], "Tag": [{"Key": "k"}]})
    assert resources_of("ec2:DeleteTags", tagging, ACCOUNT) == (
        [
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{EC2_IDS[0]}",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{EC2_IDS[1]}",
        ],
        True,
    )
    # An ID of a type the stack never tags: the action alone is checked, and said so.
    other = request("ec2", "CreateTags", {"ResourceId": ["i-0a1b2c3d"], "Tag": TAG})
    assert resources_of("ec2:CreateTags", other, ACCOUNT) == (["*"], False)


def test_ec2_create_tags_on_what_exists_is_one_check_not_a_tag_on_create_too():
    policy = deployer_policy(names())
    principal = Principal(role("spillover-deploy"), "session", ACCOUNT)
    tagging = request("ec2", "CreateTags", {"ResourceId": EC2_IDS[:1], "Tag": TAG})
    checks = checks_for(tagging, principal, [policy], StackState())
    assert [(check.action, check.allowed) for check in checks] == [("ec2:CreateTags", True)]


def test_the_iam_engine_logs_every_check_waiters_included_at_the_layers_clock():
    rule = IamScoping(DEPLOYER, [role("spillover-deploy")])
    principal = Principal(role("spillover-deploy"), "session", ACCOUNT, "KEY")
    clock = iter([10.0, 11.0, 12.0, 13.0])
    rule.bind(
        SimpleNamespace(
            principal_of=lambda key: principal,
            policies_of=lambda p: [deployer_policy(names())],
            boundary_of=lambda p: None,
            resource_state=lambda r: StackState(),
            clock=lambda: next(clock),
        )
    )
    assert rule.before(request("lambda", "GetFunctionConfiguration", {"FunctionName": "shop-app"})) is None
    update = {"FunctionName": "shop-app", "Role": role("shop-app-lambda")}
    assert rule.before(request("lambda", "UpdateFunctionConfiguration", update)) is None
    denied = rule.before(request("lambda", "DeleteFunction", {"FunctionName": "someone-elses"}))
    assert denied is not None and denied.status == 403
    assert [(c.at, c.call, c.action, c.allowed) for c in rule.log] == [
        (10.0, "lambda:GetFunctionConfiguration", "lambda:GetFunctionConfiguration", True),
        (11.0, "lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionConfiguration", True),
        (12.0, "lambda:UpdateFunctionConfiguration", "iam:PassRole", True),
        (13.0, "lambda:DeleteFunction", "lambda:DeleteFunction", False),
    ]
    assert rule.log[0].resources == [FUNCTION]


def test_a_summary_counts_calls_and_implied_checks_in_its_window_and_names_what_is_missing():
    log = [
        Checked(1.0, "lambda:UpdateFunctionCode", "lambda:UpdateFunctionCode", [FUNCTION]),
        Checked(2.0, "lambda:GetFunctionConfiguration", "lambda:GetFunctionConfiguration", [FUNCTION]),
        Checked(3.0, "lambda:GetFunctionConfiguration", "lambda:GetFunctionConfiguration", [FUNCTION]),
        Checked(4.0, "lambda:UpdateFunctionConfiguration", "iam:PassRole", [role("shop-app-lambda")]),
        Checked(5.0, "ec2:DeleteTags", "ec2:DeleteTags", ["*"], derived=False),
        Checked(6.0, "lambda:DeleteFunction", "lambda:DeleteFunction", [SCALER], allowed=False),
        Checked(99.0, "lambda:UpdateFunctionCode", "lambda:UpdateFunctionCode", [SCALER]),  # after the window
    ]
    summary = summarize(log, 1.0, 10.0)
    assert summary["lambda:GetFunctionConfiguration"] == {
        "calls": 2,
        "implied": 0,
        "denied": 0,
        "resources": [FUNCTION],
        "action_level": False,
    }
    assert (summary["iam:PassRole"]["calls"], summary["iam:PassRole"]["implied"]) == (0, 1)
    assert summary["lambda:UpdateFunctionCode"]["resources"] == [FUNCTION]
    assert denials(summary) == ["lambda:DeleteFunction (1x)"]
    expected = {
        "lambda:UpdateFunctionCode": [FUNCTION, SCALER],
        "lambda:GetFunctionConfiguration": [FUNCTION],
        "ec2:DeleteTags": ["arn:aws:ec2:any"],  # checked on the action alone: nothing to compare
        "lambda:UpdateFunctionConfiguration": [],
    }
    assert missing(summary, expected) == [
        f"lambda:UpdateFunctionCode was not checked on {SCALER}",
        "lambda:UpdateFunctionConfiguration was never checked",
    ]
    assert describe(summary, ["lambda:GetFunctionConfiguration", "ec2:DeleteTags", "iam:PassRole", "s3:Nothing"]) == [
        f"lambda:GetFunctionConfiguration checked 2x on {FUNCTION}: allowed",
        "ec2:DeleteTags checked 1x on the action alone: allowed",
        f"iam:PassRole checked 1x on {role('shop-app-lambda')}: allowed",
    ]


def test_the_strict_counts_of_a_scenario_are_its_own():
    before = {"checked": {"ec2": 10, "lambda": 4}, "refused": {}}
    after = {"checked": {"ec2": 15, "lambda": 4, "elbv2": 3}, "refused": {"elbv2": 1}}
    assert strict_delta(before, after) == {"checked": {"ec2": 5, "elbv2": 3}, "refused": {"elbv2": 1}}


def listener(port: int, actions: list[dict]) -> dict:
    return {"Port": port, "ListenerArn": f"{LISTENER}-{port}", "DefaultActions": actions}


def forward(lambda_weight: int, ecs_weight: int) -> dict:
    groups = [
        {"TargetGroupArn": LAMBDA_GROUP, "Weight": lambda_weight},
        {"TargetGroupArn": ECS_GROUP, "Weight": ecs_weight},
    ]
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}


REDIRECT = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}


def test_the_weights_of_every_forwarding_listener_are_compared_and_a_redirect_is_left_alone():
    listeners = [listener(80, [REDIRECT]), listener(443, [forward(0, 100)]), listener(8443, [forward(50, 50)])]
    assert listener_weights(listeners[0], LAMBDA_GROUP, ECS_GROUP) is None
    assert listener_weights(listeners[1], LAMBDA_GROUP, ECS_GROUP) == {"lambda": 0, "ecs": 100}
    assert redirect_of(listeners[0]) == REDIRECT["RedirectConfig"]
    assert redirect_of(listeners[1]) is None
    assert weight_problems(listeners, LAMBDA_GROUP, ECS_GROUP, {"lambda": 0, "ecs": 100}, "after the spill") == [
        "after the spill, listener 8443 has {'lambda': 50, 'ecs': 50}, not {'lambda': 0, 'ecs': 100}"
    ]
    # A forward to another group is not the stack's weighted forward.
    other = listener(443, [{"Type": "forward", "TargetGroupArn": LAMBDA_GROUP}])
    assert weight_problems([listeners[0], other], LAMBDA_GROUP, ECS_GROUP, {"lambda": 100, "ecs": 0}, "now") == [
        "now, no listener forwards to the two target groups"
    ]


def test_the_certificate_is_a_pem_pair_for_the_domain():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certificate_pem, key_pem = self_signed_certificate("quirks.example.com")
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert certificate.subject.rfc4514_string() == "CN=quirks.example.com"
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()


def test_the_changed_app_differs_in_one_module_and_keeps_its_requirements(tmp_path):
    source = ROOT / "files" / "app"
    module = changed_app(source, tmp_path / "app")
    changed = [
        path.name
        for path in sorted(source.iterdir())
        if path.is_file() and path.read_bytes() != (tmp_path / "app" / path.name).read_bytes()
    ]
    assert changed == [module.name]
    assert (tmp_path / "app" / "requirements.txt").read_bytes() == (source / "requirements.txt").read_bytes()
    assert changed_app(source, tmp_path / "app") == module  # again: a fresh copy, changed once
    assert module.read_text().count("Changed by make aws-quirks") == 1


def fake_layer(*rules) -> SimpleNamespace:
    return SimpleNamespace(rules=list(rules), state=SimpleNamespace(principals={}), errors=[])


def test_a_scenario_fails_on_a_denial_a_missing_check_and_a_refusal_and_lists_what_it_called(tmp_path, capsys):
    deployer, strict = IamScoping(DEPLOYER, []), StrictValidation()
    deployer.checked = 2
    run = Run(Settings(work=tmp_path))
    run.layer = fake_layer(strict, deployer)
    with run.scenario("code_change", "site.yml after one file of the app changed") as scenario:
        scenario.expect(DEPLOYER, "lambda:UpdateFunctionCode", [FUNCTION])
        scenario.expect(DEPLOYER, "lambda:GetFunctionConfiguration", [FUNCTION])
        now = time.monotonic()
        deployer.log += [
            Checked(now, "lambda:GetFunctionConfiguration", "lambda:GetFunctionConfiguration", [FUNCTION]),
            Checked(now, "ecs:UpdateService", "ecs:UpdateService", [SERVICE], allowed=False),
        ]
        strict.checked, strict.refused = {"lambda": 3, "ecs": 1}, {"ecs": 1}
    assert scenario.failures == [
        f"{DEPLOYER} denied ecs:UpdateService (1x)",
        f"{DEPLOYER}: lambda:UpdateFunctionCode was never checked",
        "the strict layer refused ecs 1",
    ]
    assert f"{DEPLOYER}: lambda:GetFunctionConfiguration checked 1x on {FUNCTION}: allowed" in scenario.details
    assert "strict: 4 requests checked (ecs 1, lambda 3), 1 refused" in scenario.details
    assert list(scenario.called[DEPLOYER]) == ["ecs:UpdateService", "lambda:GetFunctionConfiguration"]

    # An error in its body is its failure, and the run goes on; the report counts it with the quirks.
    with run.scenario("certificate", "site.yml with a certificate") as broken:
        raise KeyError("SPILLOVER_LISTENER_ARNS")
    assert broken.failures[0] == "KeyError: 'SPILLOVER_LISTENER_ARNS'"
    assert run.report() == 1
    out = capsys.readouterr().out
    assert "scenario code_change: checked 2 calls, FAILED: " in out
    assert "\n    strict: 4 requests checked (ecs 1, lambda 3), 1 refused\n" in out
    assert "aws quirks: 2/4 survived" in out  # strict_validation and iam_deployer_policy survive here
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["name"] for s in report["scenarios"]] == ["code_change", "certificate"]
    assert report["scenarios"][0]["called"][DEPLOYER]["lambda:GetFunctionConfiguration"]["calls"] == 1


def test_a_scenario_that_called_what_it_expected_survives(tmp_path):
    deployer = IamScoping(DEPLOYER, [])
    run = Run(Settings(work=tmp_path))
    run.layer = fake_layer(deployer)
    with run.scenario("tag_removed", "site.yml after the tag was dropped") as scenario:
        scenario.expect(DEPLOYER, "ec2:DeleteTags")
        deployer.log.append(Checked(time.monotonic(), "ec2:DeleteTags", "ec2:DeleteTags", [f"{EC2_IDS[0]}"]))
    assert scenario.line() == "scenario tag_removed: checked 1 calls, survived"
