"""The lab's profiles: a burst, and the clock the lab's AWS keeps while it runs.

The lab's short clock (profiles ``burst`` and ``short``) is faster than AWS, so a burst shows detection, stepping,
cooldown and scale-in within a couple of minutes: every metric is published per second at once, the stack's alarms
use 10 s periods on them (inventories/lab, host ``lab``), the schedule runs at the scaler's step time and a task
starts 15 s after it is asked for.

AWS's clock (profile ``aws``) is AWS's own, and compresses time only where AWS itself allows it:

- ``AWS/Lambda`` and ``AWS/ApplicationELB`` metrics are published per minute, a delivery delay after the minute
  ends (``metric_delay``, 60 s by default: AWS's spill alarm then fires one to two minutes after the first throttle;
  AWS publishes no figure, and the aws_quirks layer's worst case is two minutes), and the stack's alarms on them use
  60 s periods;
- the app's embedded-metric-format lines are extracted from the Lambda workers' output and stored at their own
  1-second resolution ``emf_delay`` after their second ends (5 s by default: an assumption, as AWS publishes no
  figure for CloudWatch Logs' ingestion and extraction either), and the pressure alarms on them use 10 s periods;
- the EventBridge schedule runs at its own ``rate(1 minute)``;
- a Fargate task starts 45 s after it is asked for (``start_delay``; ENI, image pull and container start, see
  REFERENCE), its target is checked every 5 s and healthy after 2 checks;
- the burst is longer, so that detection, the minute schedule and the cooldown on minute alarms fit in it.

The stack of each clock is a host of inventories/lab: ``lab`` (stack ``spillover-lab``) and ``lab-aws`` (stack
``spillover-lab-aws``), whose host variables are the settings of AWS's clock that come from the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.load import BurstProfile
from lab.metrics import PER_SECOND, Delivery

AWS_NAMESPACES = ("AWS/Lambda", "AWS/ApplicationELB")


@dataclass(frozen=True)
class Clock:
    name: str
    host: str  # the inventories/lab host whose stack runs on this clock
    aws_metric_period: int  # seconds per datum of the AWS/Lambda and AWS/ApplicationELB metrics
    metric_delay: float  # seconds after their period ends before those datapoints are stored
    emf_delay: float  # seconds after its second ends before an EMF datapoint is stored
    schedule_at_step_time: bool  # run the schedule at the scaler's step time (shorter than EventBridge allows)
    start_delay: float  # seconds from a desired count to a running task (Fargate's provisioning)
    alarm_period: int  # the alarms' period on the AWS metrics (what the fixture deploys; the inventory says it too)

    def deliveries(self) -> dict[str, Delivery]:
        """How the AWS namespaces' datapoints reach CloudWatch; every other namespace (EMF) gets :meth:`default`."""
        if self.aws_metric_period == 1 and not self.metric_delay:
            return {}
        return {namespace: Delivery(self.aws_metric_period, self.metric_delay) for namespace in AWS_NAMESPACES}

    def default_delivery(self) -> Delivery:
        return Delivery(None, self.emf_delay) if self.emf_delay else PER_SECOND


@dataclass(frozen=True)
class Profile:
    burst: BurstProfile
    clock: Clock
    settle_seconds: float  # after the load: wait at most this long for the weights and tasks to return


LAB_CLOCK = Clock(
    "lab",
    "lab",
    aws_metric_period=1,
    metric_delay=0.0,
    emf_delay=0.0,
    schedule_at_step_time=True,
    start_delay=15.0,
    alarm_period=10,
)
AWS_CLOCK = Clock(
    "aws",
    "lab-aws",
    aws_metric_period=60,
    metric_delay=60.0,
    emf_delay=5.0,
    schedule_at_step_time=False,
    start_delay=45.0,
    alarm_period=60,
)
PROFILES = {
    "burst": Profile(BurstProfile(), LAB_CLOCK, 60.0),
    "short": Profile(BurstProfile(baseline=5, ramp=5, hold=40, ramp_down=5, tail=15), LAB_CLOCK, 60.0),
    "aws": Profile(BurstProfile(baseline=30, ramp=30, hold=300, ramp_down=30, tail=240), AWS_CLOCK, 240.0),
}
