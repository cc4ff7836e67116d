"""Stand-in for files/app/app.py while it has not landed: the same routes and entry points, stdlib only.

Used by the lab's tests only when files/app/app.py does not exist (see tests/lab/conftest.py).
"""

import json
import os
import time
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    status, body = "200 OK", {"message": "healthy"}
    if path == "/sleep":
        time.sleep(min(float(query.get("seconds", ["15"])[0]), 60))
        body = {"message": "awaken"}
    elif path == "/env":
        body = {"message": "lambda" if os.environ.get("AWS_LAMBDA_RUNTIME_API") else "server"}
    elif path == "/pong":
        body = {"message": "ping"}
    elif path == "/bang":
        body = {"message": "boom"}
    elif path not in ("/", "/health"):
        status, body = "404 Not Found", {"message": "not found"}
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def lambda_handler(event, context):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, headers

    query = event.get("multiValueQueryStringParameters") or {
        key: [value] for key, value in (event.get("queryStringParameters") or {}).items()
    }
    environ = {
        "PATH_INFO": event["path"],
        "QUERY_STRING": "&".join(f"{key}={value}" for key, values in query.items() for value in values),
    }
    body = b"".join(app(environ, start_response))
    response = {
        "statusCode": int(captured["status"].split()[0]),
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    if "multiValueHeaders" in event:
        response["multiValueHeaders"] = {key: [value] for key, value in captured["headers"]}
    else:
        response["headers"] = dict(captured["headers"])
    return response


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = make_server(
        os.environ.get("HOST", "0.0.0.0"),
        int(os.environ.get("PORT", "8080")),
        app,
        server_class=_Server,
        handler_class=_QuietHandler,
    )
    server.serve_forever()
