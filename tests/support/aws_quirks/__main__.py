"""``python -m tests.support.aws_quirks``: see tests/support/aws_quirks/runner.py."""

from tests.support.aws_quirks.runner import main

raise SystemExit(main())
