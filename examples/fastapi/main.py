"""An example FastAPI app deployed by the collection as it is: no Lambda handler (no Mangum), no server, no Dockerfile.

Deployed with ``spillover_app_src: examples/fastapi``, ``spillover_app_callable: main:api`` and
``spillover_app_interface: asgi``; see examples/README.md. FastAPI needs pydantic-core, a compiled wheel: the Lambda
zip gets the one built for Lambda's Python and architecture. Routes:

- ``GET /health``: the ALB's health check.
- ``GET /items/{item_id}``: one item (404 when unknown, 422 when the id is not a number).
- ``POST /items``: validates a JSON item (pydantic) and echoes it back with 201.
- ``GET /search?q=...&q=...``: repeated query parameters.
- ``GET /export?rows=N``: a JSON export of N rows (default 40,000, about 1.3 MB): over Lambda's 1 MB response limit,
  so the example routes it to ECS only (``spillover_ecs_only_paths: ["/export"]``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, Field

api = FastAPI(title="spillover example", docs_url=None, redoc_url=None, openapi_url=None)

ITEMS = {1: {"id": 1, "name": "kettle", "price": 25.0}, 2: {"id": 2, "name": "lamp", "price": 40.5}}


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)


@api.get("/health")
def health() -> dict:
    return {"status": "ok"}


@api.get("/items/{item_id}")
def get_item(item_id: int) -> dict:
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    return ITEMS[item_id]


@api.post("/items", status_code=201)
def create_item(item: Item) -> dict:
    return {"id": len(ITEMS) + 1, **item.model_dump()}


@api.get("/search")
def search(q: Annotated[list[str] | None, Query()] = None) -> dict:
    terms = [term.lower() for term in q or []]
    return {"terms": terms, "items": [item for item in ITEMS.values() if any(t in item["name"] for t in terms)]}


@api.get("/export")
def export(response: Response, rows: Annotated[int, Query(ge=0, le=200_000)] = 40_000) -> dict:
    response.headers["Cache-Control"] = "no-store"
    return {"rows": [{"id": row, "name": f"item-{row:06d}"} for row in range(rows)]}
