"""The Admin API schema subset (schema.graphql), and queries parsed and validated against it.

Errors are worded as Shopify's GraphQL server (graphql-ruby) words the common ones, with its
`extensions.code`, so a misspelled field fails here with the message Shopify would give.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    get_operation_ast,
    parse,
    validate,
)

# graphql-core's wording → graphql-ruby's (what Shopify answers), with Shopify's error code.
_UNDEFINED_FIELD = re.compile(r"Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'\.")
_UNKNOWN_ARGUMENT = re.compile(
    r"Unknown argument '(?P<arg>\w+)' on field '(?P<type>\w+)\.(?P<field>\w+)'\."
)


@cache
def schema() -> GraphQLSchema:
    """The emulator's schema, built once per process."""
    text = resources.files("bridge.emulators.shopify").joinpath("schema.graphql").read_text()
    return build_schema(text)


class QueryError(Exception):
    """The query cannot run: `errors` are Shopify-shaped GraphQL errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid query")
        self.errors = errors


def error_json(error: GraphQLError) -> dict[str, Any]:
    """One graphql-core error as Shopify words it."""
    message = error.message
    extensions: dict[str, Any] = dict(error.extensions or {})
    if match := _UNDEFINED_FIELD.match(message):
        message = f"Field '{match['field']}' doesn't exist on type '{match['type']}'"
        extensions = {
            "code": "undefinedField",
            "typeName": match["type"],
            "fieldName": match["field"],
        }
    elif match := _UNKNOWN_ARGUMENT.match(message):
        message = f"Field '{match['field']}' doesn't accept argument '{match['arg']}'"
        extensions = {
            "code": "argumentNotAccepted",
            "name": match["field"],
            "typeName": "Field",
            "argumentName": match["arg"],
        }
    body: dict[str, Any] = {"message": message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = list(error.path)
    if extensions:
        body["extensions"] = extensions
    return body


def parse_query(
    query: str, operation_name: str | None = None
) -> tuple[DocumentNode, OperationDefinitionNode]:
    """The document and the operation to run, or QueryError as Shopify would answer."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        raise QueryError([error_json(exc)]) from None
    errors = validate(schema(), document)
    if errors:
        raise QueryError([error_json(error) for error in errors])
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        message = (
            f'No operation named "{operation_name}"'
            if operation_name
            else "An operation name is required"
        )
        raise QueryError([{"message": message}])
    return document, operation
