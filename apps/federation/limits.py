"""Limits on what one GraphQL request may ask, checked before any resolver runs.

The view calls, in order: ``check_batch`` (a JSON array of operations), ``parse_limited``
(token count, syntax; exact duplicate fields are folded), then ``validate_limits``: first
this module's cheap rules (depth, cost, aliases, introspection: linear in the document),
and only for a document within them graphql-core's standard validation, whose field-merge
check (OverlappingFieldsCanBeMerged) is quadratic in fields sharing a response name. Every
refusal is a GraphQLError whose ``extensions.code`` says which limit was hit.

Why the order and the folding: a 14 KB document of conflicting aliases cost 2.4-5 s of
CPU in the merge check before it was refused for its aliases; refused by the alias rule
first, it costs milliseconds. A valid query naming one field 900 times exhausted
graphql-core's comparison budget ("Validation aborted"); identical fields are the same
field to GraphQL (execution merges them by response name), so folding them changes no
answer and leaves the merge check nothing to compare. What remains for that check is
bounded by a comparison budget of MERGE_CHECK_BUDGET (about 10 ms); a document
that exhausts it is refused as QUERY_TOO_COMPLEX.

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
  mean ...?" suggestions are hidden as well, since they would leak the schema anyway, and
  a subgraph's `_service { sdl }` (the whole schema) is answered to admin-scoped keys only
  (the ones a gateway composing the subgraphs is given).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace
from typing import Any

from cachetools import LRUCache
from django.conf import settings
from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    specified_rules,
    validate,
)
from graphql.language import Node
from graphql.validation import OverlappingFieldsCanBeMergedRule, ValidationContext

from apps.federation.query_measure import Measure, QueryMeasurer
from apps.tenancy.services import tenant_graphql_limits

# Source text allowed per token: room for long names and string arguments, while a
# document made of one huge string or comment is still refused before it is lexed.
SOURCE_CHARS_PER_TOKEN = 64
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
SDL_FIELD = "_service"
# Units of graphql-core's field-merge check (field maps, argument lists and fragment pairs
# compared). 5 000 is about 10 ms of CPU here, and far above what a document within the
# other limits needs once identical fields are folded (the standard introspection query
# and every query of the test suite stay well below); graphql-core's default, 500 000,
# let one document spend ~0.5 s.
MERGE_CHECK_BUDGET = 5_000


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 15
    max_cost: int = 5000
    max_aliases: int = 50
    max_tokens: int = 5000
    max_operations: int = 10
    introspection: bool = False
    #: only documents registered for the tenant run (apps.federation.persisted)
    registered_documents_only: bool = False

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


# Clients send the same few documents again and again: each text parsed under a token
# limit is kept (documents are never changed once parsed: execution only reads them).
# Bounded in number and size, so unique large documents cannot fill a process's memory.
_PARSED: LRUCache[tuple[str, int], DocumentNode] = LRUCache(maxsize=256)
_parsed_lock = threading.Lock()
#: the longest document text kept parsed or validated
KEPT_DOCUMENT_CHARS = 16_384


def parse_limited(source: str, limits: QueryLimits) -> DocumentNode:
    """The parsed document, or GraphQLError QUERY_TOO_LARGE / QUERY_TOO_DEEP /
    GRAPHQL_PARSE_FAILED. The token limit aborts the lexer early: a huge document costs
    no more than ``max_tokens`` tokens of work."""
    if not isinstance(source, str) or not source.strip():
        raise _error("No query given: send the GraphQL document in `query`.",
                     "GRAPHQL_PARSE_FAILED")
    if len(source) > KEPT_DOCUMENT_CHARS:
        return _parse(source, limits)
    key = (source, limits.max_tokens)
    with _parsed_lock:
        parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse(source, limits)
        with _parsed_lock:
            _PARSED[key] = parsed
    return parsed


def _parse(source: str, limits: QueryLimits) -> DocumentNode:
    try:
        document = parse(source, no_location=False, max_lexical_tokens=limits.max_tokens,
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
    for definition in document.definitions:
        if isinstance(definition, ExecutableDefinitionNode):
            _fold_duplicates(definition.selection_set)
    return document


def _fold_duplicates(selection_set: SelectionSetNode | None) -> None:
    """Drop each selection structurally identical to an earlier one of the same selection
    set, innermost first, in place (the document is this request's own)."""
    if selection_set is None:
        return
    seen: set[Any] = set()
    kept = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode | InlineFragmentNode):
            _fold_duplicates(selection.selection_set)
        shape = _shape(selection)
        if shape not in seen:
            seen.add(shape)
            kept.append(selection)
    if len(kept) < len(selection_set.selections):
        selection_set.selections = tuple(kept)


def _shape(node: Any) -> Any:
    """A hashable value equal for AST nodes that print the same (locations left out);
    much cheaper than printing them."""
    if isinstance(node, Node):
        return (node.kind, *(_shape(getattr(node, key)) for key in node.keys if key != "loc"))
    if isinstance(node, list | tuple):
        return tuple(_shape(item) for item in node)
    return node


def _measure_errors(schema: GraphQLSchema, document: DocumentNode, limits: QueryLimits,
                    variables: dict[str, Any] | None) -> list[GraphQLError]:
    """Depth, cost and aliases of each operation, straight from the AST: no visitor and no
    TypeInfo, so the cost is a walk of the document (fragments measured once each)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    errors: list[GraphQLError] = []
    for node in document.definitions:
        if not isinstance(node, OperationDefinitionNode):
            continue
        measurer = QueryMeasurer(schema, fragments, variables,
                                 depth_cap=limits.max_depth + 1)
        try:
            measure = measurer.operation(node)
        except RecursionError:  # a chain of fragments longer than Python's stack
            measure = Measure(depth=limits.max_depth + 1)
        errors.extend(_judged(node, measure, limits))
    return errors


def _judged(node: OperationDefinitionNode, measure: Measure,
            limits: QueryLimits) -> list[GraphQLError]:
    errors = []
    if measure.depth > limits.max_depth:
        errors.append(_error(
            f"The query nests deeper than {limits.max_depth} levels (the limit). "
            "Ask for fewer nested fields, or fetch the deeper part in a second query.",
            "QUERY_TOO_DEEP", nodes=[node]))
    if measure.cost > limits.max_cost:
        errors.append(_error(
            f"The query's estimated cost is {measure.cost}, above the limit of "
            f"{limits.max_cost}. Lower `first` on list fields, ask for fewer ids "
            "or fields, or split the query.", "QUERY_TOO_COSTLY", nodes=[node]))
    if measure.aliases > limits.max_aliases:
        errors.append(_error(
            f"The query uses {measure.aliases} aliases; at most {limits.max_aliases} "
            "are allowed. Use list fields with `ids` instead of one alias per item.",
            "TOO_MANY_ALIASES", nodes=[node]))
    return errors


def _introspection_errors(document: DocumentNode, sdl_allowed: bool) -> list[GraphQLError]:
    """__schema and __type (and _service, unless ``sdl_allowed``) wherever they appear,
    fragments included (every definition of the document is walked, not only what the
    operations reach)."""
    errors: list[GraphQLError] = []
    pending = [d.selection_set for d in document.definitions
               if isinstance(d, ExecutableDefinitionNode)]
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode) and \
                    selection.name.value in INTROSPECTION_FIELDS:
                errors.append(_error(
                    "Introspection is disabled for this API; ask your DictaMesh "
                    "administrator for the schema (SDL) instead.", "INTROSPECTION_DISABLED",
                    nodes=[selection]))
            elif isinstance(selection, FieldNode) and not sdl_allowed and \
                    selection.name.value == SDL_FIELD:
                errors.append(_error(
                    "The subgraph's SDL (`_service`) is served only to admin-scoped API keys "
                    "while introspection is disabled; use the key your gateway is given, or "
                    "ask your administrator for the schema files.", "INTROSPECTION_DISABLED",
                    nodes=[selection]))
            child = getattr(selection, "selection_set", None)
            if child is not None:
                pending.append(child)
    return errors


class _BudgetedMergeRule(OverlappingFieldsCanBeMergedRule):
    """graphql-core's field-merge check with MERGE_CHECK_BUDGET instead of its default."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = MERGE_CHECK_BUDGET


_STANDARD_RULES = [_BudgetedMergeRule if rule is OverlappingFieldsCanBeMergedRule else rule
                   for rule in specified_rules]


# graphql-core's standard validation depends on the schema and the document alone, and
# costs more than the rest of a small query's request handling: a document that passed once
# passes again, so the text of each that passed is remembered per schema (Apollo Server
# keeps such a document store too). Failures are not kept: they are cheap to find again.
_VALIDATED: LRUCache[tuple[GraphQLSchema, str, bool], bool] = LRUCache(maxsize=256)
_validated_lock = threading.Lock()


def _standard_errors(schema: GraphQLSchema, document: DocumentNode,
                     hide_suggestions: bool) -> list[GraphQLError]:
    text = document.loc.source.body if document.loc is not None else ""
    key = (schema, text, hide_suggestions) if 0 < len(text) <= KEPT_DOCUMENT_CHARS else None
    if key is not None:
        with _validated_lock:
            if key in _VALIDATED:
                return []
    errors = validate(schema, document, rules=_STANDARD_RULES,
                      hide_suggestions=hide_suggestions)
    if not errors and key is not None:
        with _validated_lock:
            _VALIDATED[key] = True
    return errors


def validate_limits(schema: GraphQLSchema, document: DocumentNode, limits: QueryLimits,
                    variables: dict[str, Any] | None, *,
                    sdl_allowed: bool = False) -> list[GraphQLError]:
    """This module's limits, then (for a document within them) graphql-core's standard
    validation; an empty list means the document may execute. Every error carries
    ``extensions.code`` (standard errors: GRAPHQL_VALIDATION_FAILED). ``sdl_allowed``:
    the caller may ask for `_service` while introspection is off (an admin key)."""
    errors = _measure_errors(schema, document, limits, variables)
    if not limits.introspection:
        errors += _introspection_errors(document, sdl_allowed)
    if errors:
        return errors
    errors = _standard_errors(schema, document, hide_suggestions=not limits.introspection)
    for index, error in enumerate(errors):
        if error.message == "Validation aborted.":  # a budget of graphql-core ran out
            errors[index] = _error(
                "The query is too complex to validate: too many fields share a name or a "
                "fragment. Give repeated fields distinct aliases or fewer variants, or split "
                "the query.", "QUERY_TOO_COMPLEX")
        elif not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
    return errors


__all__ = ["QueryLimits", "check_batch", "parse_limited", "validate_limits"]
