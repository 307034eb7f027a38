"""The API's documentation page, written on the server from the OpenAPI document (no script, no
CDN: the page's only assets are the app's own stylesheet), with curl examples that name this
SMS Desk's public address."""
import json

from flask import Blueprint, current_app, render_template, request

from .problems import KINDS, TYPE_BASE

bp = Blueprint("api_docs", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


def public_base_url() -> str:
    """PUBLIC_BASE_URL, unless it is the loopback default while this page was reached at another
    address: then that address, which the reader's software can reach too."""
    from ..services.phones import public_base_url_is_loopback
    if public_base_url_is_loopback():
        return request.host_url.rstrip("/")
    from ..services.public_address import current_public_base_url
    return current_public_base_url()


def resolved(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def schema_fields(spec: dict, schema: dict) -> list[dict]:
    schema = resolved(spec, schema or {})
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema.get("properties", {}).items():
        field = dict(field)
        kind = field.get("type", "")
        if "$ref" in field:
            kind = field["$ref"].rsplit("/", 1)[1]
        elif kind == "array" and "items" in field:
            items = field["items"]
            kind = "array of " + (items["$ref"].rsplit("/", 1)[1] if "$ref" in items else str(items.get("type", "")))
        if isinstance(kind, list):
            kind = " or ".join(kind)
        if field.get("format"):
            kind += f" ({field['format']})"
        rows.append({"name": name, "type": kind, "required": name in required,
                     "description": field.get("description", ""),
                     "choices": ", ".join(map(str, field.get("enum", [])))})
    return rows


def operations(spec: dict) -> list[dict]:
    found = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = []
            for status, response in operation.get("responses", {}).items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                content = response.get("content", {})
                media, schema = next(iter(content.items()), (None, {}))
                schema = (schema or {}).get("schema")
                responses.append({"status": status, "description": response.get("description", ""),
                                  "media": media, "schema": schema["$ref"].rsplit("/", 1)[1]
                                  if schema and "$ref" in schema else None})
            found.append({"method": method.upper(), "path": path, "summary": operation.get("summary", ""),
                          "description": operation.get("description", ""),
                          "anchor": f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}",
                          "parameters": [parameter for parameter in operation.get("parameters", [])
                                         if "$ref" not in parameter],
                          "body": schema_fields(spec, body) if body else None,
                          "responses": responses})
    return found


CURL_SEND = {"to": ["+33612345678"], "text": "Your order has shipped."}


@bp.route("/api/docs")
def documentation():
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    spec = api.spec.to_dict()
    base = public_base_url()
    schemas = {name: schema_fields(spec, schema) for name, schema in spec["components"]["schemas"].items()}
    return render_template("api/docs.html", spec=spec, operations=operations(spec), schemas=schemas, base=base,
                           send_body=json.dumps(CURL_SEND, ensure_ascii=False), problem_base=TYPE_BASE,
                           problem_kinds=sorted(set(KINDS.values()) | {"idempotency-key-reused", "quota-exceeded", "too-late",
                                                                        "worker-unreachable"}))
