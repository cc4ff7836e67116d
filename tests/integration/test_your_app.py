"""Your app, not ours: playbooks/site.yml with an app of the inventory (the spillover_app_* variables) against the
local AWS. Bad input fails before anything is created, naming the variable; each example deploys to both runtimes and
answers through both in the lab (its function's zip in a lab execution environment, its container as lab/ecs.py runs
the image's recipe, behind the lab's load balancer with the deployed listener's weights and ECS-only rule); a second
run of the FastAPI example changes nothing (no rebuild, no push, no new zip)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.aws import Aws
from lab.balancer import MAX_LAMBDA_BODY
from lab.stack import discover, write_weights
from tests.integration.test_wiring import recap
from tests.support.ansible_run import ROOT, run_playbook
from tests.support.lab_plane import data_plane, request, wait_for
from tests.support.local_registry import needs_image_tools
from tests.support.stack_leftovers import stack_leftovers

pytestmark = pytest.mark.integration

SITE = ROOT / "playbooks" / "site.yml"
INVENTORY = ROOT / "inventories" / "local"
STACK = "spillover-local"
FASTAPI = {
    "spillover_app_src": str(ROOT / "examples" / "fastapi"),
    "spillover_app_callable": "main:api",
    "spillover_app_interface": "asgi",
}
FLASK = {"spillover_app_src": str(ROOT / "examples" / "flask")}


def deployed_vars(local_aws, registry: str, app: dict, ecs_only_path: str, build_dir: Path) -> dict:
    """site.yml's variables for an example with its ECS-only path (and the standby task it needs), the function's
    zip built into ``build_dir`` where the lab reads it."""
    return {
        **app,
        "spillover_scaler_endpoint_url": local_aws.endpoint,
        "ecr_push_registry_override": registry,
        "spillover_ecs_only_paths": [ecs_only_path],
        "ecs_service_standby_count": 1,
        "scaler_standby_tasks": 1,
        "lambda_function_build_dir": str(build_dir),
    }


def answers_through_the_lab(local_aws, app_dir: Path, build_dir: Path, log_dir: Path, paths: list[str]):
    """``(on Lambda, on ECS)``: the answers to ``paths`` through the lab's load balancer in front of the deployed
    stack, first with the deployed weights (all on Lambda), then with all on ECS."""
    aws = Aws(local_aws.endpoint)
    stack = discover(aws, STACK)
    groups = (stack.lambda_target_group.arn, stack.ecs_target_group.arn)
    with data_plane(aws, stack, build_dir, app_dir, log_dir) as plane:
        assert plane.balancer.weights == {groups[0]: 100, groups[1]: 0}
        wait_for(lambda: plane.follower.counts()["healthy"] == 1, 60, "the standby task healthy")
        on_lambda = {path: request(plane.balancer.url, path) for path in paths}
        write_weights(aws.client("elbv2"), stack.listener_arn, {groups[0]: 0, groups[1]: 1})
        wait_for(lambda: plane.balancer.weights.get(groups[1]) == 1, message="the weights re-read")
        on_ecs = {path: request(plane.balancer.url, path) for path in paths}
    return on_lambda, on_ecs


def assert_same_answers_but_ecs_only(on_lambda: dict, on_ecs: dict, ecs_only_path: str) -> None:
    for path, answer in on_lambda.items():
        assert (answer.served_by, on_ecs[path].served_by) == ("ecs" if path == ecs_only_path else "lambda", "ecs")
        assert (answer.status, answer.header("content-type"), answer.body) == (
            on_ecs[path].status,
            on_ecs[path].header("content-type"),
            on_ecs[path].body,
        ), path
    # The ECS-only path's answer is over Lambda's 1 MB: only ECS can send it, whatever the weights.
    assert on_lambda[ecs_only_path].status == 200 and len(on_lambda[ecs_only_path].body) > MAX_LAMBDA_BODY


def site(local_aws, extra_vars: dict, **kwargs):
    port = local_aws.endpoint.rsplit(":", 1)[1]
    return run_playbook(SITE, inventory=INVENTORY, extra_vars=extra_vars, env={"LOCAL_AWS_PORT": port}, **kwargs)


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"spillover_app_src": "/nonexistent/app"}, "spillover_app_src: /nonexistent/app is not a directory"),
        ({"spillover_app_requirements": "/nonexistent/requirements.txt"}, "spillover_app_requirements: /nonexistent"),
        ({**FASTAPI, "spillover_app_callable": "main:nothing"}, "spillover_app_callable: APP_CALLABLE main:nothing"),
        ({**FASTAPI, "spillover_app_callable": "mian:api"}, "No module named 'mian'"),
        ({**FASTAPI, "spillover_app_interface": "wsgi"}, "spillover_app_interface: main:api is an ASGI app, not WSGI"),
        ({**FASTAPI, "spillover_app_health_path": "/healthz"}, "spillover_app_health_path: GET /healthz answered 404"),
        ({"spillover_ecs_only_paths": ["/report"]}, "spillover_ecs_only_paths (/report) always go to ECS"),
    ],
    ids=["src", "requirements", "attribute", "module", "interface", "health", "ecs-only-without-standby"],
)
def test_bad_input_names_the_variable_and_creates_nothing(local_aws, aws_client, extra_vars, message):
    completed = site(local_aws, extra_vars)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert message in output, output[-3000:]
    assert stack_leftovers(aws_client, STACK) == []


def test_an_import_error_shows_the_apps_own_traceback(local_aws, aws_client, tmp_path):
    app = tmp_path / "broken"
    app.mkdir()
    (app / "service.py").write_text("import os\n\nDATABASE = os.environ['DATABASE_URL']\n")
    completed = site(local_aws, {"spillover_app_src": str(app), "spillover_app_callable": "service:app"})
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "spillover_app_callable: importing service:app failed: KeyError('DATABASE_URL')" in output
    assert "service.py" in output and "DATABASE = os.environ['DATABASE_URL']" in output  # its traceback
    assert stack_leftovers(aws_client, STACK) == []


def test_a_requirement_without_a_wheel_for_the_function_names_it_and_the_platform_and_creates_nothing(
    local_aws, aws_client, tmp_path
):
    app = tmp_path / "cli"
    shutil.copytree(ROOT / "files" / "app", app)
    # docopt 0.6.2 is published as an sdist only: neither Lambda nor the image could take it from the lock.
    (app / "requirements.txt").write_text("bottle>=0.13,<0.14\ndocopt==0.6.2\n")
    completed = site(local_aws, {"spillover_app_src": str(app)})
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert (
        f"spillover_app_requirements ({app / 'requirements.txt'}): docopt has no wheel for CPython 3.12 on manylinux"
        " x86_64 (the lambda runtime) (asked as docopt==0.6.2)" in output
    ), output[-3000:]
    assert "spillover_app_lambda_architecture x86_64" in output, output[-3000:]
    assert stack_leftovers(aws_client, STACK) == []


def teardown(local_aws, aws_client) -> None:
    port = local_aws.endpoint.rsplit(":", 1)[1]
    recap(run_playbook(ROOT / "playbooks" / "teardown.yml", inventory=INVENTORY, env={"LOCAL_AWS_PORT": port}))
    assert stack_leftovers(aws_client, STACK) == []


@needs_image_tools
def test_the_fastapi_example_answers_through_both_runtimes_and_a_second_run_changes_nothing(
    local_aws, aws_client, registry, base_image, tmp_path
):
    extra_vars = deployed_vars(local_aws, registry, FASTAPI, "/export", tmp_path / "build")
    first = recap(site(local_aws, extra_vars))
    assert first["local"]["changed"] > 0

    configuration = aws_client("lambda").get_function_configuration(FunctionName=f"{STACK}-app")
    assert configuration["Handler"] == "spillover_entry.handler"
    assert configuration["Environment"]["Variables"] == {"APP_CALLABLE": "main:api", "APP_INTERFACE": "asgi"}
    elbv2, ecs = aws_client("elbv2"), aws_client("ecs")
    [ecs_group] = elbv2.describe_target_groups(Names=[f"{STACK}-ecs"])["TargetGroups"]
    assert (ecs_group["HealthCheckPath"], ecs_group["Port"]) == ("/health", 8080)
    load_balancer = elbv2.describe_load_balancers(Names=[STACK])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.describe_listeners(LoadBalancerArn=load_balancer)["Listeners"][0]["ListenerArn"]
    [rule] = [rule for rule in elbv2.describe_rules(ListenerArn=listener)["Rules"] if not rule["IsDefault"]]
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/export"]
    assert rule["Actions"][0]["TargetGroupArn"] == ecs_group["TargetGroupArn"]
    [service] = ecs.describe_services(cluster=STACK, services=[f"{STACK}-app"])["services"]
    assert service["desiredCount"] == 1
    image = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ][0]["image"]
    # The image that was built and pushed for these sources, pinned by its digest.
    assert image.startswith(f"{registry}/{STACK}-app@sha256:")

    # The same app again: the tag is in the registry, the zip has the same bytes, nothing else differs.
    second = recap(site(local_aws, extra_vars))
    assert second["local"]["changed"] == 0
    assert (
        aws_client("lambda").get_function_configuration(FunctionName=f"{STACK}-app")["CodeSha256"]
        == (configuration["CodeSha256"])
    )

    paths = ["/health", "/items/1", "/items/9", "/items/x", "/search?q=Lamp&q=kettle%20", "/export"]
    on_lambda, on_ecs = answers_through_the_lab(
        local_aws, ROOT / "examples" / "fastapi", tmp_path / "build", tmp_path, paths
    )
    assert_same_answers_but_ecs_only(on_lambda, on_ecs, "/export")
    assert [on_lambda[path].status for path in paths] == [200, 200, 404, 422, 200, 200]
    assert json.loads(on_lambda["/search?q=Lamp&q=kettle%20"].body)["terms"] == ["lamp", "kettle "]
    teardown(local_aws, aws_client)


@needs_image_tools
def test_the_flask_example_answers_through_both_runtimes(local_aws, aws_client, registry, base_image, tmp_path):
    recap(site(local_aws, deployed_vars(local_aws, registry, FLASK, "/report", tmp_path / "build")))
    configuration = aws_client("lambda").get_function_configuration(FunctionName=f"{STACK}-app")
    assert configuration["Environment"]["Variables"] == {"APP_CALLABLE": "app:app", "APP_INTERFACE": "wsgi"}

    paths = ["/health", "/items?tag=light&tag=kitchen", "/items/2", "/items/9", "/session", "/report"]
    on_lambda, on_ecs = answers_through_the_lab(
        local_aws, ROOT / "examples" / "flask", tmp_path / "build", tmp_path, paths
    )
    assert_same_answers_but_ecs_only(on_lambda, on_ecs, "/report")
    assert [on_lambda[path].status for path in paths] == [200, 200, 200, 404, 200, 200]
    assert [item["id"] for item in json.loads(on_lambda["/items?tag=light&tag=kitchen"].body)["items"]] == [1, 2, 3]
    for answer in (on_lambda["/session"], on_ecs["/session"]):  # two Set-Cookie headers: multi-value headers
        cookies = [value.split(";")[0] for name, value in answer.headers if name.lower() == "set-cookie"]
        assert cookies == ["session=abc123", "theme=dark"]
    teardown(local_aws, aws_client)
