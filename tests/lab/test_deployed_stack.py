"""The lab on a stack it did not deploy: the function's code found by its CodeSha256, the burst's request chosen from
the app's routes (or ``--path``), and one line when the stack or the local AWS is not there."""

from __future__ import annotations

import pytest

from lab import builder, cli
from lab.aws import Aws
from lab.lambda_runtime import CodeNotFound, deployed_zip
from lab.load import SLEEP_PATH, NoBurstPath, burst_path, check_path
from lab.stack import Function
from tests.support.local_aws import free_port


def deployed_function(aws: Aws, name: str, code: bytes) -> Function:
    builder.function(aws.client("lambda"), name, builder.lambda_role(aws.client("iam"), f"{name}-role"), code)
    configuration = aws.client("lambda").get_function(FunctionName=name)["Configuration"]
    return Function(
        name, configuration["FunctionArn"], "app.handler", "python3.12", 3, {}, None, configuration["CodeSha256"]
    )


@pytest.mark.integration
def test_the_deployed_code_is_the_zip_of_its_code_sha256_wherever_the_roles_built_it(local_aws, tmp_path):
    aws = Aws(local_aws.endpoint)
    code = builder.stub_zip()
    function = deployed_function(aws, "shop-app", code)
    older, cache = tmp_path / "build", tmp_path / "cache"
    (older).mkdir()
    (older / "shop-app.zip").write_bytes(builder.lambda_zip.zip_bytes({"app.py": b"OLD = True\n"}))
    (cache / "3f2a9c1d0e4b").mkdir(parents=True)  # the roles' default: one directory per collection
    (cache / "3f2a9c1d0e4b" / "shop-app.zip").write_bytes(code)

    data, source = deployed_zip(aws, function, (older, cache))
    assert (data, source) == (code, str(cache / "3f2a9c1d0e4b" / "shop-app.zip"))

    # The local AWS's Code.Location names an S3 address that nothing serves; no zip of that CodeSha256 elsewhere.
    with pytest.raises(CodeNotFound) as found:
        deployed_zip(aws, function, (older,))
    message = str(found.value)
    assert message.startswith(
        f"the code deployed to shop-app (CodeSha256 {function.code_sha256}) is not readable: not from GetFunction's "
        f"Code.Location, nor among the zips the roles built in {older} (tried https://"
    )
    assert f"{older / 'shop-app.zip'} (another CodeSha256)" in message
    assert message.endswith(
        "re-deploy the stack from this machine (playbooks/site.yml, the roles' default build directories)"
    )


@pytest.mark.parametrize(
    ("routes", "path"),
    [
        ([("GET", "/"), ("GET", "/health"), ("GET", "/pong"), ("GET", "/sleep")], SLEEP_PATH),
        ([("GET", "/health"), ("GET", "/items/<int:item_id>"), ("POST", "/items"), ("GET", "/items")], "/items"),
        ([("GET", "/health"), ("GET", "/items/{item_id}"), ("GET", "/search")], "/search"),
        ([("GET", "/health"), ("POST", "/items")], "/health"),
    ],
    ids=["demo", "flask", "fastapi", "health-only"],
)
def test_the_burst_sends_sleep_else_the_first_plain_get_route_not_the_health_check(routes, path):
    assert burst_path(routes, "/health") == path


def test_an_app_without_a_route_for_the_burst_is_told_to_give_one():
    with pytest.raises(NoBurstPath, match=r"declares no GET route without path parameters \(GET /items/<id>, POST /"):
        burst_path([("GET", "/items/<id>"), ("POST", "/items")], "/health")
    with pytest.raises(NoBurstPath, match="the app's routes could not be read"):
        burst_path([], "/health")


def test_a_path_of_ones_own_is_taken_as_given_with_its_seconds():
    assert check_path("/api/items?page=2") == "/api/items?page=2"
    assert check_path("/slow?seconds={seconds}") == "/slow?seconds={seconds}"
    with pytest.raises(NoBurstPath, match="--path api/items: a path starts with /"):
        check_path("api/items")
    with pytest.raises(NoBurstPath, match=r"--path /items/\{id\}: the only placeholder it may hold is \{seconds\}"):
        check_path("/items/{id}")


@pytest.mark.integration
def test_the_default_path_of_a_deployed_flask_app_is_read_from_its_deployed_code(lab_stack_of):
    lab_stack = lab_stack_of(app=builder.describe_app(builder.ROOT / "examples" / "flask"))
    assert cli.default_path(lab_stack.aws, lab_stack.stack, (lab_stack.build_dir,)) == "/items"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("stack", "command"),
    [
        ("spillover-local", "ansible-playbook -i inventories/local --limit local playbooks/site.yml"),
        ("shop-prod", "ansible-playbook -i <your inventory> playbooks/site.yml (a host with spillover_stack_name: "),
    ],
)
def test_a_stack_that_is_not_deployed_gets_one_line_with_the_command_that_deploys_it(local_aws, stack, command):
    with pytest.raises(SystemExit) as ended:
        cli.main(["up", "--stack", stack, "--deploy", "never", "--endpoint", local_aws.endpoint])
    message = str(ended.value.code)
    assert message.startswith(
        f"lab: the stack {stack} is not deployed at {local_aws.endpoint}: load balancer {stack} not found on "
    )
    assert f"deploy the stack first, with {command}" in message
    assert "\n" not in message


@pytest.mark.integration
def test_with_deploy_never_a_local_aws_that_does_not_answer_is_not_started(monkeypatch):
    port = free_port()
    monkeypatch.setenv("LOCAL_AWS_PORT", str(port))
    monkeypatch.delenv("LAB_AWS_ENDPOINT", raising=False)
    with pytest.raises(SystemExit) as ended:
        cli.main(["run", "--deploy", "never"])
    assert str(ended.value.code).startswith(
        f"lab: the local AWS at http://127.0.0.1:{port} does not answer, so no stack is deployed there: start it "
    )
