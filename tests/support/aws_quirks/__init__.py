"""A real-AWS behaviour layer in front of the local AWS (issue 10).

The local AWS (moto) accepts what real AWS rejects: it enforces no IAM, has no role propagation delay, no Lambda
concurrency quota, no ECS service-linked role, no throttling, returns a whole log search in one page, has every
metric the moment it is written and deletes an ECS service at once. This layer exists only because of that: it is
a proxy (``QuirksLayer``) in front of the local AWS that injects those behaviours by rule (``rules``), with AWS's
own error codes and messages in each protocol's wire shape (``wire``), and an IAM policy engine (``iam``).
``python -m tests.support.aws_quirks`` (``make aws-quirks``) runs the collection's playbooks and the scaler
through it and prints, per behaviour, whether the collection survived it.
"""
