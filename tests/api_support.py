"""Calling the API as an integrator does, each answer checked against the OpenAPI document."""
import functools
import json

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

from werkzeug.test import EnvironBuilder

from webapp.services import api_keys


@functools.cache
def openapi_of(document: str) -> OpenAPI:
    """Read once per document: every test's app writes the same one."""
    # problem+json is JSON: read as such, validated against the Problem schema
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(json.loads(document), config=config)


class ApiClient:
    """A test client whose every call carries the key, and whose every answer is validated
    against /api/v1/openapi.json (status, content type, body)."""

    def __init__(self, client, key: str | None):
        self.client, self.key = client, key
        self._openapi = None

    @property
    def openapi(self) -> OpenAPI:
        if self._openapi is None:
            self._openapi = openapi_of(self.client.get("/api/v1/openapi.json").get_data(as_text=True))
        return self._openapi

    def call(self, method, path, key=None, headers=None, validate=True, **kwargs):
        headers = dict(headers or {})
        key = key or self.key
        if key and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {key}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        if validate:
            self.check(response)
        return response

    def check(self, response):
        sent = response.request  # its body was read by the app: the answer is checked against its path and method
        request = EnvironBuilder(path=sent.path, method=sent.method, query_string=sent.query_string.decode(),
                                 base_url=sent.host_url).get_request()
        self.openapi.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
        if response.status_code >= 400:
            assert response.content_type == "application/problem+json", response.get_data(as_text=True)
            body = response.get_json()
            assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == response.status_code

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


def key_for(user, name="Tests") -> str:
    return api_keys.make_key(user, name).key
