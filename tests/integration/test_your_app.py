"""Your app, not ours: playbooks/site.yml with an app of the inventory (the spillover_app_* variables) against the
local AWS. Bad input fails before anything is created, naming the variable; the FastAPI example deploys to both
runtimes and a second run changes nothing (no rebuild, no push, no new zip)."""

from __future__ import annotations

import pytest

from tests.integration.test_wiring import recap
from tests.support.ansible_run import ROOT, run_playbook
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


@needs_image_tools
def test_the_fastapi_example_deploys_to_both_runtimes_and_a_second_run_changes_nothing(
    local_aws, aws_client, registry, base_image
):
    extra_vars = {
        **FASTAPI,
        "spillover_scaler_endpoint_url": local_aws.endpoint,
        "ecr_push_registry_override": registry,
        "spillover_ecs_only_paths": ["/export"],
        "ecs_service_standby_count": 1,
        "scaler_standby_tasks": 1,
    }
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
    assert image.startswith(f"{registry}/{STACK}-app:src-")

    # The same app again: the tag is in the registry, the zip has the same bytes, nothing else differs.
    second = recap(site(local_aws, extra_vars))
    assert second["local"]["changed"] == 0
    assert (
        aws_client("lambda").get_function_configuration(FunctionName=f"{STACK}-app")["CodeSha256"]
        == (configuration["CodeSha256"])
    )

    teardown = ROOT / "playbooks" / "teardown.yml"
    port = local_aws.endpoint.rsplit(":", 1)[1]
    recap(run_playbook(teardown, inventory=INVENTORY, env={"LOCAL_AWS_PORT": port}))
    assert stack_leftovers(aws_client, STACK) == []
