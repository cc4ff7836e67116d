"""End to end: a short burst through the whole lab, with the project's scaler deciding: the demo app, and the Flask
example (examples/flask, its slow route) as the roles would deploy any app."""

from __future__ import annotations

import pytest

from lab.builder import ROOT, SCALER_DIR, describe_app
from lab.load import BurstProfile
from lab.runner import RunSettings, run_burst
from tests.support.app_support import ZIP_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.skipif(not (SCALER_DIR / "scaler.py").exists(), reason="the scaler has not landed")
@pytest.mark.parametrize(
    ("app", "path"),
    [
        (describe_app(), "/sleep?seconds={seconds}"),
        (describe_app(ROOT / "examples" / "flask"), "/slow?seconds={seconds}"),
    ],
    ids=["demo", "flask-example"],
)
def test_a_short_burst_spills_to_ecs_and_comes_back(lab_stack_of, tmp_path, app, path):
    lab_stack = lab_stack_of(app=app)
    settings = RunSettings(
        stack=lab_stack.stack.name,
        endpoint=lab_stack.aws.endpoint,
        output=tmp_path / "output",
        build_dirs=(lab_stack.build_dir,),
        app_dir=app.src,
        zip_cache=ZIP_CACHE,
        profile=BurstProfile(baseline=4, ramp=4, hold=30, ramp_down=2, tail=6, path=path),
        start_delay=2.0,
        schedule_seconds=2.0,
        settle_tail=45.0,
        progress=False,
    )
    data, summary, directory = run_burst(settings, lab_stack.stack)

    assert summary["first_throttle_s"] is not None  # the burst did overflow Lambda
    assert summary["served_ecs"] > 0  # ECS served requests
    assert summary["max_weight_ecs"] > 0  # the scaler moved weight to ECS
    assert summary["weights_returned"]  # and moved it back once the burst was over
    assert summary["served_lambda"] > 0
    assert {record["status"] for record in data.balancer if not record["reason"]} == {200}  # the app's own answers
    actions = {action for _, action, _ in data.scaler_actions}
    assert actions & {"warm", "scale_out"}  # capacity came up (warm alarm or spill alarm first)
    assert {"step_up", "step_down"} <= actions
    for name in ("timeline.csv", "timeline.png", "report.md", "access.log", "requests.jsonl"):
        assert (directory / name).stat().st_size > 0
