"""One Lambda execution environment: import the handler once (the cold start), then serve invocations.

Run as a script by :mod:`lab.lambda_runtime`: ``python -S lambda_worker.py CODE_DIR HANDLER RESULT_FD``.
Invocations arrive as JSON lines on stdin; replies go as JSON lines to RESULT_FD, so that whatever the
function prints (its log lines) goes to stdout/stderr and cannot corrupt the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class Context:
    """The attributes of the Lambda context object the handlers may read."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = "$LATEST"
        self.invoked_function_arn = os.environ.get("LAB_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "lab"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    code_dir, handler, result_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # The function sees its own code first, as in /var/task; not the lab's directory (run with -S: no site-packages,
    # and PYTHONPATH the runtime's packages).
    sys.path[0] = code_dir
    os.chdir(code_dir)
    replies = os.fdopen(result_fd, "w", buffering=1)
    started = time.perf_counter()
    module_name, _, function_name = handler.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        init_error = None
    except Exception as error:  # an init error is reported, as Lambda does, on every invocation
        traceback.print_exc()
        function, init_error = None, f"{type(error).__name__}: {error}"
    replies.write(json.dumps({"ready": True, "init_ms": (time.perf_counter() - started) * 1000}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        begin = time.perf_counter()
        if function is None:
            reply = {"error": "Runtime.ImportModuleError", "message": init_error}
        else:
            context = Context(request.get("request_id") or str(uuid.uuid4()), time.monotonic() + request["timeout"])
            try:
                reply = {"result": function(request["event"], context)}
            except Exception as error:
                traceback.print_exc()
                reply = {"error": type(error).__name__, "message": str(error)}
        reply["duration_ms"] = (time.perf_counter() - begin) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        replies.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
