"""The spillover lab: a local data plane for the stack the playbooks deploy to the local AWS.

The local AWS (moto) keeps the control plane: listener weights, target groups, the functions' settings,
the ECS service's desired count, alarms and rules. It runs no code, starts no container, evaluates no
alarm and delivers no event. The lab supplies exactly that, reading and writing the same local AWS:

* :mod:`lab.balancer`: the listener as an HTTP proxy on loopback (weights, health checks, 502/503/504).
* :mod:`lab.lambda_runtime`: the app function's zip in worker processes up to its reserved concurrency.
* :mod:`lab.ecs`: real app processes following the service's desired count, registered as ip targets: the task
  definition's image, read from its registry by :mod:`lab.registry`.
* :mod:`lab.alarms` and :mod:`lab.events`: alarm evaluation from the metrics, rule matching, the schedule.
* :mod:`lab.load`, :mod:`lab.report`, :mod:`lab.runner`: the burst, its timeline, the comparison.
"""
