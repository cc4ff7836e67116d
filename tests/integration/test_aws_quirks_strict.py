"""The strict local AWS (issue 19): the behaviour layer refuses what AWS refuses of a request, by the botocore
model's constraints and by the constraints AWS documents beyond them (tests/support/aws_quirks/constraints.py), with
AWS's code, message and status in each protocol's shape, through a real local AWS, the layer and boto3.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.config import Config

from tests.integration.test_aws_quirks_layer import LAMBDA_TRUST, client, code_zip, refusal
from tests.support.ansible_run import ROOT, VENV_BIN, ansible_env
from tests.support.aws_quirks.constraints import (
    DOCUMENTED,
    INVALID,
    check,
    documented_violations,
    model_violations,
)
from tests.support.aws_quirks.layer import Injection, QuirksLayer
from tests.support.aws_quirks.rules import StrictValidation
from tests.support.aws_quirks.runner import PlayRun, Run, Settings
from tests.support.scaler_stack import build_stack

pytestmark = pytest.mark.integration
UNVALIDATED = Config(retries={"mode": "standard", "total_max_attempts": 1}, parameter_validation=False)


@pytest.fixture
def strict(local_aws):
    """The strict layer alone in front of the local AWS."""
    layer = QuirksLayer(local_aws.endpoint, [StrictValidation()]).start()
    yield layer
    layer.stop()


def counts(layer: QuirksLayer) -> tuple[dict, dict]:
    rule = layer.rules[0]
    return rule.checked, rule.refused


def test_a_security_group_description_with_an_apostrophe_is_refused_as_ec2_does(strict, aws_client):
    vpc = aws_client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2 = client(strict, "ec2")
    assert refusal(ec2.create_security_group, GroupName="s-alb", Description="the stack's ALB", VpcId=vpc) == (
        "InvalidParameterValue",
        "Invalid security group description. Valid descriptions are strings less than 256 characters from the "
        "following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
        400,
    )
    assert refusal(ec2.create_security_group, GroupName="sg-alb", Description="ALB", VpcId=vpc) == (
        "InvalidParameterValue",
        "Value (sg-alb) for parameter GroupName is invalid. Group names may not be in the format sg-*.",
        400,
    )
    group = ec2.create_security_group(GroupName="s-alb", Description="The stack ALB", VpcId=vpc)["GroupId"]
    rule = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
    listeners = [{**rule, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "the ALB's listeners"}]}]
    assert refusal(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=listeners) == (
        "InvalidParameterValue",
        "Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  "
        "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
        400,
    )
    listeners[0]["IpRanges"][0]["Description"] = "Listeners"
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=listeners)
    assert counts(strict) == ({"ec2": 5}, {"ec2": 3})
    assert (
        "ec2:CreateSecurityGroup: InvalidParameterValue: Invalid security group description"
        in (strict.rules[0].refusals[0])
    )


def test_a_33_character_target_group_name_a_bad_enum_and_a_value_over_the_maximum(strict):
    elbv2 = client(strict, "elbv2")
    assert refusal(elbv2.create_target_group, Name="a" * 33, TargetType="lambda") == (
        "ValidationError",
        f"Target group name '{'a' * 33}' cannot be longer than '32' characters",
        400,
    )
    code, message, status = refusal(elbv2.create_target_group, Name="s-ecs", Protocol="HTTPX", Port=80, VpcId="v")
    assert (code, status) == ("ValidationError", 400)
    assert message.startswith(
        "1 validation error detected: Value 'HTTPX' at 'protocol' failed to satisfy constraint: Member must satisfy "
        "enum value set: [HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE"
    )
    assert refusal(elbv2.create_target_group, Name="s-ecs", TargetType="lambda", HealthCheckIntervalSeconds=301) == (
        "ValidationError",
        "1 validation error detected: Value '301' at 'healthCheckIntervalSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 300",
        400,
    )
    assert refusal(elbv2.create_load_balancer, Name="internal-s", Subnets=["subnet-1"])[:2] == (
        "ValidationError",
        "LoadBalancer name cannot begin with 'internal-'",
    )
    elbv2.create_target_group(Name="a" * 32, TargetType="lambda")
    assert counts(strict) == ({"elbv2": 5}, {"elbv2": 4})


def test_each_json_service_answers_with_its_own_code(strict, aws_client):
    ecs = client(strict, "ecs")
    assert refusal(ecs.create_service, cluster="c", serviceName="s", launchType="FARGATEX") == (
        "InvalidParameterException",
        "1 validation error detected: Value 'FARGATEX' at 'launchType' failed to satisfy constraint: Member must "
        "satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]",
        400,
    )
    logs = client(strict, "logs")
    assert refusal(logs.create_log_group, logGroupName="/ecs/s app") == (
        "InvalidParameterException",
        "1 validation error detected: Value '/ecs/s app' at 'logGroupName' failed to satisfy constraint: Member must "
        r"satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+",
        400,
    )
    events = client(strict, "events")
    assert refusal(events.put_rule, Name="s-" + "x" * 63, ScheduleExpression="rate(1 minute)") == (
        "ValidationException",
        f"1 validation error detected: Value 's-{'x' * 63}' at 'name' failed to satisfy constraint: Member must have "
        "length less than or equal to 64",
        400,
    )
    # Too short: botocore checks minimums itself, so only a client that skips its validation reaches AWS.
    ecr = client(strict, "ecr", config=UNVALIDATED)
    assert refusal(ecr.create_repository, repositoryName="a") == (
        "InvalidParameterException",
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must have length greater than or "
        "equal to 2'",
        400,
    )
    assert refusal(ecr.create_repository, repositoryName="S-app")[1].startswith(
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '"
    )
    cloudwatch = client(strict, "cloudwatch")
    assert refusal(cloudwatch.put_dashboard, DashboardName="s dashboard", DashboardBody="{}")[0] == (
        "InvalidParameterInput"
    )
    alarm = {"EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 1.0}
    assert refusal(cloudwatch.put_metric_alarm, AlarmName="a" * 256, **alarm) == (
        "ValidationError",
        f"1 validation error detected: Value '{'a' * 256}' at 'alarmName' failed to satisfy constraint: Member must "
        "have length less than or equal to 255",
        400,
    )
    # Good requests pass.
    logs.create_log_group(logGroupName="/ecs/s-app", tags={"spillover:stack": "s"})
    ecr.create_repository(repositoryName="s-app")
    events.put_rule(Name="s-schedule", ScheduleExpression="rate(1 minute)")
    cloudwatch.put_dashboard(DashboardName="s", DashboardBody=json.dumps({"widgets": []}))
    checked, refused = counts(strict)
    assert checked == {"ecs": 1, "logs": 2, "events": 2, "ecr": 3, "cloudwatch": 3}
    assert refused == {"ecs": 1, "logs": 1, "events": 1, "ecr": 2, "cloudwatch": 2}


def test_lambda_and_iam_refuse_names_sizes_and_reserved_tags(strict):
    iam = client(strict, "iam")
    assert refusal(iam.create_role, RoleName="r" * 65, AssumeRolePolicyDocument=LAMBDA_TRUST) == (
        "ValidationError",
        f"1 validation error detected: Value '{'r' * 65}' at 'roleName' failed to satisfy constraint: Member must "
        "have length less than or equal to 64",
        400,
    )
    role = iam.create_role(RoleName="s-app-lambda", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    statement = {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:*:*:log-group:/x"}
    big = json.dumps({"Version": "2012-10-17", "Statement": [{**statement, "Sid": f"S{i}"} for i in range(60)]})
    assert 5120 < len(big.replace(" ", "")) < 10240
    iam.put_role_policy(RoleName="s-app-lambda", PolicyName="one", PolicyDocument=big)
    iam.put_role_policy(RoleName="s-app-lambda", PolicyName="one", PolicyDocument=big)  # replaced, not added
    assert refusal(iam.put_role_policy, RoleName="s-app-lambda", PolicyName="two", PolicyDocument=big) == (
        "LimitExceeded",
        "Maximum policy size of 10240 bytes exceeded for role s-app-lambda",
        409,
    )
    lambda_ = client(strict, "lambda")
    function = {"Runtime": "python3.12", "Role": role, "Handler": "app.handler", "Code": {"ZipFile": code_zip()}}
    assert refusal(lambda_.create_function, FunctionName="f" * 65, **function) == (
        "InvalidParameterValueException",
        f"1 validation error detected: Value '{'f' * 65}' at 'functionName' failed to satisfy constraint: Member "
        "must have length less than or equal to 64",
        400,
    )
    code, message, status = refusal(lambda_.create_function, FunctionName="s app", **function)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "1 validation error detected: Value 's app' at 'functionName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: "
    )
    environment = {"Variables": {f"VARIABLE_{i}": "x" * 100 for i in range(40)}}
    code, message, _status = refusal(lambda_.create_function, FunctionName="s-app", Environment=environment, **function)
    assert code == "InvalidParameterValueException"
    assert message.startswith("Lambda was unable to configure your environment variables because the environment")
    assert refusal(lambda_.create_function, FunctionName="s-app", Tags={"aws:stack": "s"}, **function)[:2] == (
        "ValidationException",
        "Tag keys starting with 'aws:' are reserved for internal use",
    )
    lambda_.create_function(FunctionName="s-app", Description="d" * 256, **function)
    checked, refused = counts(strict)
    assert (checked, refused) == ({"iam": 5, "lambda": 5}, {"iam": 2, "lambda": 4})


def test_a_whole_stack_built_through_the_strict_layer_is_refused_nothing(strict):
    stack = build_stack(strict.endpoint)
    stack.add_healthy_targets(2)
    checked, refused = counts(strict)
    assert refused == {}, strict.rules[0].refusals
    assert set(checked) >= {"ec2", "elbv2", "ecs", "cloudwatch"} and sum(checked.values()) >= 15


# ---------------------------------------------------------------------------------------------------------
# The table itself, and the names the roles produce


def test_every_documented_rule_names_its_page_and_a_service_the_layer_answers_for():
    assert len(DOCUMENTED) >= 20
    for row in DOCUMENTED:
        assert row.source.startswith("https://docs.aws.amazon.com/"), row
        assert row.service in INVALID and row.rule and row.message, row


def test_the_model_and_the_table_decode_each_protocols_parameters():
    # Query: every scalar is text; an empty list is ``Name=``; a map arrives as entries.
    assert model_violations("elasticloadbalancing", "CreateTargetGroup", {"Name": "s", "Port": "80", "Tags": ""})
    assert not model_violations("elasticloadbalancing", "CreateTargetGroup", {"Name": "s", "Port": "80"})
    assert model_violations("elasticloadbalancing", "CreateTargetGroup", {"Name": "s", "Port": "eighty"})
    # EC2: the wire names (GroupDescription, TagSpecification.N.Tag.N.Key).
    request = {"GroupName": "s", "GroupDescription": "ok", "TagSpecification": [{"Tag": [{"Key": "aws:x"}]}]}
    assert [v.message for v in documented_violations("ec2", "CreateSecurityGroup", request)] == [
        "Tag keys starting with 'aws:' are reserved for internal use"
    ]
    assert check("ec2", "CreateSecurityGroup", {"GroupName": "s"}).code == "MissingParameter"
    # Lambda's sensitive environment: the value is not shown, the map is named.
    verdict = check("lambda", "CreateFunction", {"FunctionName": "f", "Role": "r", "Code": {}})
    assert verdict.code == "ValidationException" and "at 'role' failed" in verdict.message
    assert check(
        "lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Environment": {"Variables": {"A": "1"}}}
    )
    assert (
        check("lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Environment": {"Variables": {"AB": "1"}}})
        is None
    )


def role_names(stack: str, tmp_path: Path) -> dict:
    """What playbooks/tasks/names.yml names for ``stack`` (the roles' names entry points, no AWS call)."""
    playbook = tmp_path / "names.yml"
    keys = ["network", "ecr_push", "alb", "lambda_function", "ecs_service", "scaler", "eventbridge", "dashboard"]
    shown = ", ".join(f"'{key}': {key}__names" for key in keys)
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.import_tasks: {ROOT / 'playbooks' / 'tasks' / 'names.yml'}\n"
        "    - ansible.builtin.debug:\n"
        f"        msg: \"NAMES {{{{ {{{shown}, 'alarms': alarm__spill_alarm_names + alarm__warm_alarm_names}} "
        '| to_json }}"\n'
    )
    completed = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e", f"spillover_stack_name={stack}"],
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    line = next(line for line in completed.stdout.splitlines() if '"msg": "NAMES ' in line)
    return json.loads(json.loads("{" + line.strip() + "}")["msg"].removeprefix("NAMES "))


def requests_naming(names: dict) -> list[tuple[str, str, str, dict]]:
    """(service, operation, named member, parameters) of each create the roles make with these names."""
    role_arn = "arn:aws:iam::123456789012:role/x"
    found = [
        ("ec2", "CreateSecurityGroup", "GroupName", {"GroupName": names["network"][group], "GroupDescription": "x"})
        for group in ("alb_security_group", "task_security_group")
    ]
    found += [("ecr", "CreateRepository", "repositoryName", {"repositoryName": names["ecr_push"]["repository"]})]
    found += [("elasticloadbalancing", "CreateLoadBalancer", "Name", {"Name": names["alb"]["load_balancer"]})]
    for role in ("lambda_function", "scaler"):
        function = {"FunctionName": names[role]["function"], "Role": role_arn, "Code": {}}
        found += [("lambda", "CreateFunction", "FunctionName", function)]
        found += [
            ("iam", "CreateRole", "RoleName", {"RoleName": names[role]["role"], "AssumeRolePolicyDocument": "{}"})
        ]
        found += [("logs", "CreateLogGroup", "logGroupName", {"logGroupName": names[role]["log_group"]})]
    ecs = names["ecs_service"]
    found += [
        ("elasticloadbalancing", "CreateTargetGroup", "Name", {"Name": names[role]["target_group"]})
        for role in ("lambda_function", "ecs_service")
    ]
    found += [
        ("ecs", "CreateCluster", "clusterName", {"clusterName": ecs["cluster"]}),
        ("ecs", "CreateService", "serviceName", {"serviceName": ecs["service"]}),
        ("ecs", "RegisterTaskDefinition", "family", {"family": ecs["task_family"], "containerDefinitions": []}),
        ("iam", "CreateRole", "RoleName", {"RoleName": ecs["task_execution_role"], "AssumeRolePolicyDocument": "{}"}),
        ("logs", "CreateLogGroup", "logGroupName", {"logGroupName": ecs["log_group"]}),
        ("monitoring", "PutDashboard", "DashboardName", {"DashboardName": names["dashboard"]["dashboard"]}),
    ]
    found += [("events", "PutRule", "Name", {"Name": rule}) for rule in names["eventbridge"]["rules"]]
    alarm = {"EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold"}
    found += [("monitoring", "PutMetricAlarm", "AlarmName", {"AlarmName": name, **alarm}) for name in names["alarms"]]
    return found


def refused_names(names: dict) -> list[str]:
    refused = []
    for service, operation, member, params in requests_naming(names):
        verdict = check(service, operation, params)
        for violation in verdict.violations if verdict else []:
            if violation.wire == member or violation.path == member[:1].lower() + member[1:]:
                refused.append(f"{service}:{operation} {params[member]!r}: {verdict.message}")
    return refused


@pytest.mark.parametrize("stack", ["a", "abcdefghij0123456789", "a1-b2-c3-d4-e5-f6-g7"])
def test_the_names_of_the_shortest_and_the_longest_stack_name_pass_every_rule(stack, tmp_path):
    names = role_names(stack, tmp_path)
    assert len(requests_naming(names)) >= 20
    assert refused_names(names) == []


def test_a_stack_name_ending_in_a_hyphen_names_a_load_balancer_aws_refuses(tmp_path):
    """The stack-name check (``^[a-z][a-z0-9-]{0,19}$``) lets a trailing hyphen through; ELB refuses the ALB named
    after such a stack."""
    refused = refused_names(role_names("shop-", tmp_path))
    assert refused == [
        "elasticloadbalancing:CreateLoadBalancer 'shop-': LoadBalancer name cannot contain characters that are not "
        "letters, digits or hyphens, and cannot begin or end with a hyphen"
    ]


def test_make_aws_quirks_fails_on_a_refusal_and_names_the_play_it_broke(tmp_path, capsys):
    strict = StrictValidation()
    strict.checked, strict.refused = {"ec2": 3, "iam": 2}, {"ec2": 1}
    strict.refusals = ["ec2:CreateSecurityGroup: InvalidParameterValue: Invalid security group description. -- ..."]
    strict.injections.append(
        Injection("strict_validation", "ec2", "CreateSecurityGroup", "K", "InvalidParameterValue", "Invalid", "f", 5.0)
    )
    run = Run(Settings(work=tmp_path))
    run.layer = SimpleNamespace(rules=[strict], state=SimpleNamespace(principals={}), errors=[])
    run.plays = [
        PlayRun("site 1", False, 0, 2.0, "network : Create the SG", "Failed to create security group", 4.0, 6.0),
        PlayRun("teardown 1", False, 0, 2.0, "network : Delete", "unrelated", 7.0, 9.0),
    ]
    verdict = run.verdict(strict)
    assert verdict.failures == [
        "site 1 failed at 'network : Create the SG': Failed to create security group",
        f"refused {strict.refusals[0]}",
    ]
    assert run.report() == 1
    out = capsys.readouterr().out
    assert "strict ec2: 3 requests checked, 1 refused\nstrict iam: 2 requests checked, 0 refused\n" in out
    assert "teardown 1 failed at 'network : Delete', not caused by an injected behaviour" in out
    assert json.loads((tmp_path / "report.json").read_text())["strict"]["refused"] == {"ec2": 1}
