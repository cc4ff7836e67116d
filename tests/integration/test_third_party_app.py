"""A third-party app, not ours, as a user brings it: httpbin (Flask, 81 routes) from the package index, in a directory
that holds only its requirements.txt, deployed through site.yml to the local AWS and the local registry.

* ``lab parity`` on the same directory finds no false difference on any of its routes: the one difference left is
  the ALB's 1 MB limit on a request to a Lambda function (the reason ECS is there); what httpbin itself answers
  differently on each call (digest nonces, random bytes, UUIDs) is put down to the app; and the directory is left as
  it was.
* Through the lab's load balancer in front of the deployed stack, with the ECS task run from the deployed image
  (read from the registry), ``/status/1`` (a status no client can be sent; the container's server died of it) is a
  500, and the same task then answers the next request.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from lab import builder, parity
from lab.aws import Aws
from lab.balancer import MAX_LAMBDA_BODY
from lab.stack import discover, write_weights
from tests.integration.test_wiring import recap
from tests.integration.test_your_app import STACK, deployed_vars, site, teardown
from tests.support.app_support import ZIP_CACHE
from tests.support.lab_plane import data_plane, request, wait_for
from tests.support.local_registry import needs_image_tools

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HTTPBIN = "httpbin==0.10.4"
ECS_ONLY = "/drip"


def snapshot(directory) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@needs_image_tools
def test_httpbin_from_the_index_deploys_parity_finds_no_false_difference_and_a_bad_status_stops_no_task(
    local_aws, aws_client, registry, base_image, tmp_path
):
    app_dir = tmp_path / "httpbin"
    app_dir.mkdir()
    (app_dir / "requirements.txt").write_text(HTTPBIN + "\n")
    before = snapshot(app_dir)
    app = {
        "spillover_app_src": str(app_dir),
        "spillover_app_callable": "httpbin:app",
        "spillover_app_health_path": "/status/200",
    }
    build_dir = tmp_path / "build"
    recap(site(local_aws, deployed_vars(local_aws, registry, app, ECS_ONLY, build_dir)))

    # parity, as a user runs it before (or after) deploying: every route httpbin declares, with each method.
    described = builder.describe_app(app_dir, "httpbin:app", health_path="/status/200")
    result = parity.run_parity(described, tmp_path / "parity", None, ZIP_CACHE)
    print("\n".join(result.lines()))
    assert result.died is None and result.package_differences == []
    assert len(result.comparisons) >= 80
    differ = [comparison for comparison in result.comparisons if comparison.differences]
    assert [comparison.request.name for comparison in differ] == [
        f"POST /anything/1 with a body over {MAX_LAMBDA_BODY // 1024 // 1024} MB"
    ], [comparison.summary() for comparison in differ]
    [over] = differ
    assert over.on_lambda.status == 413 and over.on_ecs.status == 200 and over.matches["status"] == "ecs"
    varies = {comparison.request.name for comparison in result.comparisons if comparison.varies}
    assert {"GET /uuid", "GET /bytes/<int:n>", "GET /digest-auth/<qop>/<user>/<passwd>"} <= varies
    assert snapshot(app_dir) == before  # neither parity nor the deploy wrote into the user's directory

    # The deployed stack, its ECS task from the deployed image: a bad status is a 500, and the task keeps serving.
    aws = Aws(local_aws.endpoint)
    stack = discover(aws, STACK)
    groups = (stack.lambda_target_group.arn, stack.ecs_target_group.arn)
    with data_plane(aws, stack, build_dir, None, tmp_path) as plane:
        wait_for(lambda: plane.follower.counts()["healthy"] == 1, 120, "the standby task healthy")
        [task] = plane.follower.running_tasks()
        on_lambda = request(plane.balancer.url, "/status/1")
        write_weights(aws.client("elbv2"), stack.listener_arn, {groups[0]: 0, groups[1]: 1})
        wait_for(lambda: plane.balancer.weights.get(groups[1]) == 1, message="the weights re-read")
        answers = [request(plane.balancer.url, path) for path in ("/status/1", "/status/1", "/get?after=bad")]
        assert [(answer.served_by, answer.status) for answer in answers] == [("ecs", 500), ("ecs", 500), ("ecs", 200)]
        assert json.loads(answers[-1].body)["args"] == {"after": "bad"}
        assert (on_lambda.served_by, on_lambda.status) == ("lambda", 500)  # the same answer on both runtimes
        assert plane.follower.running_tasks() == [task] and task.process.poll() is None
    teardown(local_aws, aws_client)
