"""`GET /openapi.json`: the OpenAPI 3.1 document of this worker's endpoints.

Why it exists: one machine-readable contract of every HTTP and WebSocket endpoint, for clients
and for the contract test that fuzzes a live worker. The document is built once, at import, by
`streams.web.openapi_document.document` from this worker's settings (whether ingest needs a
token, the body limit) and the dashboard's assets, and served as is.
What it must not do: build the document per request, or describe anything but this worker.
"""

from __future__ import annotations

from faust.web import Request, Response, View

from streams.app import app, settings
from streams.web.dashboard import ASSETS
from streams.web.openapi_document import document

DOCUMENT = document(token_required=bool(settings.ingest_token),
                    max_body_bytes=settings.max_body_bytes, static_names=ASSETS)


@app.page("/openapi.json")
class OpenApi(View):
    """The OpenAPI 3.1 document."""

    async def get(self, request: Request) -> Response:
        return self.json(DOCUMENT)
