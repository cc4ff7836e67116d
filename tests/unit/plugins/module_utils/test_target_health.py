"""Unit tests of plugins/module_utils/target_health.py: what counts as a healthy target, and target states."""

from __future__ import annotations

import sys

from tests.support.ansible_run import link_collection

sys.path.insert(0, str(link_collection()))

from ansible_collections.spillover.lambda_ecs.plugins.module_utils.target_health import (
    count_healthy,
    describe_targets,
    target_states,
)


def health(*states, port=None):
    descriptions = []
    for index, (state, reason) in enumerate(states):
        target = {"Id": f"10.0.0.{index}"} if port is None else {"Id": f"10.0.0.{index}", "Port": port}
        descriptions.append(
            {"Target": target, "TargetHealth": {"State": state, **({"Reason": reason} if reason else {})}}
        )
    return descriptions


def test_count_healthy_counts_healthy_targets():
    assert count_healthy(health(("healthy", None), ("unhealthy", "Target.FailedHealthChecks"))) == 1
    assert count_healthy(health(("initial", "Elb.RegistrationInProgress"))) == 0
    assert count_healthy(health(("unused", "Target.NotInUse"))) == 0
    assert count_healthy(health(("draining", "Target.DeregistrationInProgress"))) == 0
    assert count_healthy([]) == 0


def test_count_healthy_of_a_lambda_group_with_health_checks_off_counts_registered_functions():
    assert count_healthy(health(("unavailable", "Target.HealthCheckDisabled"))) == 1
    assert count_healthy(health(("unavailable", "Target.InvalidState"))) == 0


def test_target_states_and_lines_show_the_port_only_when_there_is_one():
    ip_targets = health(("healthy", None), ("unhealthy", "Target.Timeout"), port=8080)
    lambda_target = [
        {
            "Target": {"Id": "arn:aws:lambda:us-east-1:123456789012:function:app"},
            "TargetHealth": {"State": "unavailable", "Reason": "Target.HealthCheckDisabled"},
        }
    ]
    assert target_states(ip_targets) == [
        {"id": "10.0.0.0", "port": 8080, "state": "healthy"},
        {"id": "10.0.0.1", "port": 8080, "state": "unhealthy", "reason": "Target.Timeout"},
    ]
    assert describe_targets(ip_targets) == ["10.0.0.0:8080 healthy", "10.0.0.1:8080 unhealthy (Target.Timeout)"]
    assert describe_targets(lambda_target) == [
        "arn:aws:lambda:us-east-1:123456789012:function:app unavailable (Target.HealthCheckDisabled)"
    ]
    assert describe_targets([]) == []
