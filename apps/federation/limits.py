"""Limits on what one GraphQL request may ask, checked before any resolver runs.

The view calls, in order: ``check_batch`` (a JSON array of operations), ``parse_limited``
(token count, syntax), then ``validate_limits`` (graphql-core's standard validation plus
depth, cost, aliases and introspection). Every refusal is a GraphQLError whose
``extensions.code`` says which limit was hit.

The defaults, and why (compared with graphql-armor, Apollo and GitHub's API):
- max_depth 15: graphql-armor defaults to 6, but a federated entity graph nests deeper
  (customer → orders → items → product → supplier, each through a Relay connection's
  edges/node) and the standard introspection query needs 13 levels.
- max_cost 5000: graphql-armor's default cost budget; see apps/federation/query_measure.py
  for the model (fields resolved, multiplied by page sizes, as GitHub counts nodes).
- max_aliases 50: graphql-armor allows 15; generated clients alias more, and cost already
  bounds what aliases can multiply.
- max_tokens 5000: graphql-armor allows 1000; ours is higher for large generated documents,
  still bounding parse time and memory, which are spent before validation can refuse.
- max_operations 10: batched requests multiply everything above; Apollo Server only
  enables batching on request, and 10 is its documented example ceiling.
- introspection: off unless settings.GRAPHQL_INTROSPECTION (default: settings.DEBUG) turns
  it on, as Apollo Router does in production; a tenant can override it. When off, "Did you
  mean ...?" suggestions are hidden as well, since they would leak the schema anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from django.conf import settings
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import ValidationContext, ValidationRule

from apps.federation.query_measure import Measure, QueryMeasurer
from apps.tenancy.services import tenant_graphql_limits

# Source text allowed per token: room for long names and string arguments, while a
# document made of one huge string or comment is still refused before it is lexed.
SOURCE_CHARS_PER_TOKEN = 64
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 15
    max_cost: int = 5000
    max_aliases: int = 50
    max_tokens: int = 5000
    max_operations: int = 10
    introspection: bool = False

    @classmethod
    def for_tenant(cls, tenant: str) -> QueryLimits:
        """The platform defaults with the tenant's overrides (Tenant.graphql_limits) applied."""
        base = cls(introspection=settings.GRAPHQL_INTROSPECTION)
        names = {field.name for field in fields(cls)}
        overrides = {k: v for k, v in tenant_graphql_limits(tenant).items() if k in names}
        return replace(base, **overrides)


def _error(message: str, code: str, **kwargs: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code}, **kwargs)


def check_batch(operations: list[Any], limits: QueryLimits) -> None:
    """Refuse a batch (a JSON array of operations) that is empty or too long."""
    if not operations:
        raise _error("The batch is empty: send at least one operation.", "BAD_REQUEST")
    if len(operations) > limits.max_operations:
        raise _error(
            f"The batch has {len(operations)} operations; at most {limits.max_operations} "
            "are allowed per request. Split it into several requests.", "BATCH_TOO_LARGE")


def parse_limited(source: str, limits: QueryLimits) -> DocumentNode:
    """The parsed document, or GraphQLError QUERY_TOO_LARGE / QUERY_TOO_DEEP /
    GRAPHQL_PARSE_FAILED. The token limit aborts the lexer early: a huge document costs
    no more than ``max_tokens`` tokens of work."""
    if not isinstance(source, str) or not source.strip():
        raise _error("No query given: send the GraphQL document in `query`.",
                     "GRAPHQL_PARSE_FAILED")
    try:
        return parse(source, no_location=False, max_lexical_tokens=limits.max_tokens,
                     max_comments=limits.max_tokens,
                     max_source_length=limits.max_tokens * SOURCE_CHARS_PER_TOKEN)
    except GraphQLSyntaxError as exc:
        if "Parsing aborted" in exc.message and "nested too deeply" in exc.message:
            raise _error(f"The query nests too deeply to be parsed; at most "
                         f"{limits.max_depth} levels are allowed.", "QUERY_TOO_DEEP") from exc
        if "Parsing aborted" in exc.message:
            raise _error(f"The query is too large: at most {limits.max_tokens} tokens are "
                         "allowed. Ask for fewer fields or split it into several requests.",
                         "QUERY_TOO_LARGE") from exc
        raise _error(exc.message, "GRAPHQL_PARSE_FAILED", source=exc.source,
                     positions=exc.positions) from exc


class _LimitRule(ValidationRule):
    """A rule bound to one request's limits and variables (see ``_bind``)."""

    limits: ClassVar[QueryLimits]
    variables: ClassVar[dict[str, Any] | None]


class _MeasuredRule(_LimitRule):
    """Measures each operation (through its fragments) and lets ``check`` judge it."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        context: ValidationContext = self.context
        fragments = {d.name.value: d for d in context.document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        measurer = QueryMeasurer(context.schema, fragments, self.variables,
                                 depth_cap=self.limits.max_depth + 1)
        try:
            measure = measurer.operation(node)
        except RecursionError:  # a chain of fragments longer than Python's stack
            self.report_error(_error(
                f"The query nests too deeply; at most {self.limits.max_depth} levels are "
                "allowed.", "QUERY_TOO_DEEP", nodes=[node]))
            return
        self.check(node, measure)

    def check(self, node: OperationDefinitionNode, measure: Measure) -> None:
        raise NotImplementedError


class MaxDepthRule(_MeasuredRule):
    def check(self, node: OperationDefinitionNode, measure: Measure) -> None:
        if measure.depth > self.limits.max_depth:
            self.report_error(_error(
                f"The query nests deeper than {self.limits.max_depth} levels (the limit). "
                "Ask for fewer nested fields, or fetch the deeper part in a second query.",
                "QUERY_TOO_DEEP", nodes=[node]))


class MaxCostRule(_MeasuredRule):
    def check(self, node: OperationDefinitionNode, measure: Measure) -> None:
        if measure.cost > self.limits.max_cost:
            self.report_error(_error(
                f"The query's estimated cost is {measure.cost}, above the limit of "
                f"{self.limits.max_cost}. Lower `first` on list fields, ask for fewer ids "
                "or fields, or split the query.", "QUERY_TOO_COSTLY", nodes=[node]))


class MaxAliasesRule(_MeasuredRule):
    def check(self, node: OperationDefinitionNode, measure: Measure) -> None:
        if measure.aliases > self.limits.max_aliases:
            self.report_error(_error(
                f"The query uses {measure.aliases} aliases; at most {self.limits.max_aliases} "
                "are allowed. Use list fields with `ids` instead of one alias per item.",
                "TOO_MANY_ALIASES", nodes=[node]))


class NoIntrospectionRule(_LimitRule):
    """Refuses __schema and __type wherever they appear, fragments included (the visitor
    walks every definition of the document, not only the operations)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in INTROSPECTION_FIELDS:
            self.report_error(_error(
                "Introspection is disabled for this API; ask your DictaMesh administrator "
                "for the schema (SDL) instead.", "INTROSPECTION_DISABLED", nodes=[node]))


def _bind(rule: type[_LimitRule], limits: QueryLimits,
          variables: dict[str, Any] | None) -> type[_LimitRule]:
    return type(rule.__name__, (rule,), {"limits": limits, "variables": variables})


def validate_limits(schema: GraphQLSchema, document: DocumentNode, limits: QueryLimits,
                    variables: dict[str, Any] | None) -> list[GraphQLError]:
    """graphql-core's standard validation plus this module's limits; an empty list means
    the document may execute. Every error carries ``extensions.code`` (standard errors:
    GRAPHQL_VALIDATION_FAILED)."""
    ours: list[type[_LimitRule]] = [MaxDepthRule, MaxCostRule, MaxAliasesRule]
    if not limits.introspection:
        ours.append(NoIntrospectionRule)
    rules = [*specified_rules, *(_bind(rule, limits, variables) for rule in ours)]
    errors = validate(schema, document, rules=rules,
                      hide_suggestions=not limits.introspection)
    for error in errors:
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
    return errors


__all__ = ["QueryLimits", "check_batch", "parse_limited", "validate_limits"]
