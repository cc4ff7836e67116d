"""An example Flask app deployed by the collection as it is: no Lambda handler, no server, no Dockerfile.

Deployed with ``spillover_app_src: examples/flask`` and ``spillover_app_callable: app:app`` (WSGI, the default
interface); see examples/README.md. Routes:

- ``GET /health``: the ALB's health check.
- ``GET /items/<id>``: one item as JSON; ``GET /items?tag=a&tag=b``: items with any of the tags (repeated query
  parameters).
- ``POST /items``: echoes a JSON item back with 201.
- ``GET /session``: sets two cookies (two ``Set-Cookie`` headers: multi-value response headers).
- ``GET /report?rows=N``: a CSV report of N rows (default 50,000, about 1.2 MB): over Lambda's 1 MB response limit,
  so the example routes it to ECS only (``spillover_ecs_only_paths: ["/report"]``).
- ``GET /slow?seconds=S``: waits S seconds (default 1, at most 30) as a request held by a slow upstream does: on Lambda
  each one holds an execution environment all along, so a burst of them meets the function's concurrency limit
  (the lab's burst uses it).
"""

from __future__ import annotations

import time

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

ITEMS = {
    1: {"id": 1, "name": "kettle", "tags": ["kitchen"]},
    2: {"id": 2, "name": "lamp", "tags": ["living", "light"]},
    3: {"id": 3, "name": "torch", "tags": ["light", "outdoor"]},
}
MAX_REPORT_ROWS = 200_000
MAX_SLOW_SECONDS = 30.0


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.get("/items")
def list_items():
    tags = set(request.args.getlist("tag"))
    found = [item for item in ITEMS.values() if not tags or tags & set(item["tags"])]
    return jsonify(items=found)


@app.get("/items/<int:item_id>")
def get_item(item_id: int):
    if item_id not in ITEMS:
        return jsonify(error=f"no item {item_id}"), 404
    return jsonify(ITEMS[item_id])


@app.post("/items")
def create_item():
    item = request.get_json(silent=True)
    if not isinstance(item, dict) or "name" not in item:
        return jsonify(error="send a JSON object with a name"), 400
    return jsonify({"id": len(ITEMS) + 1, **item}), 201


@app.get("/session")
def session():
    response = jsonify(session="started")
    response.set_cookie("session", "abc123", httponly=True)
    response.set_cookie("theme", "dark")
    return response


@app.get("/report")
def report():
    rows = request.args.get("rows", default=50_000, type=int)
    if not 0 <= rows <= MAX_REPORT_ROWS:
        return jsonify(error=f"rows must be 0 to {MAX_REPORT_ROWS}"), 400
    lines = ["id,name,value"] + [f"{row},item-{row:06d},{row * 7 % 1000:04d}" for row in range(rows)]
    return Response("\n".join(lines) + "\n", mimetype="text/csv")


@app.get("/slow")
def slow():
    seconds = request.args.get("seconds", default=1.0, type=float)
    if not 0 <= seconds <= MAX_SLOW_SECONDS:  # also false for nan
        return jsonify(error=f"seconds must be 0 to {MAX_SLOW_SECONDS:g}"), 400
    time.sleep(seconds)
    return jsonify(waited=seconds)
