"""Lint a valid rulebook against the law: the findings of SPEC §3 "Lint", each citing its source.

Findings never stop `rulebook load`; `rulebook lint` exits non-zero when one is an error.
Every finding points at the YAML node it is about (`measures[3]`, `lists[1].term`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from socialcredit.dates import Duration, add
from socialcredit.rulebook.load import load_rulebook, validate
from socialcredit.rulebook.model import ListDef, Rule, Rulebook, Source

UNRELATED = "AI Act Art. 5(1)(c)(i)"
DISPROPORTIONATE = "AI Act Art. 5(1)(c)(ii)"
GUOBANFA = "GuoBanFa 2020 No. 49"
AUTOMATED = "GDPR Art. 22(3)"
RESTRICTING = ("deny", "review")

# Start days over which a duration's longest calendar span is measured: four whole years,
# one of them a leap year, so every run of month lengths (and a 29 February) is met.
_SPAN_FIRST, _SPAN_DAYS = date(2024, 1, 1), 4 * 365 + 1


@dataclass(frozen=True)
class Finding:
    """One lint finding: where (a YAML path), what, under which law, and how bad."""

    path: str
    message: str
    law: str
    level: str  # error | warning

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message, "law": self.law}

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message} [{self.law}]"


@cache
def longest_span(dur: Duration, country: str) -> int:
    """The most days `dur` can last, over every start day of a four-year cycle.

    `3m` lasts 89 to 92 days depending on the start, `1y` 365 or 366; working days depend
    on the country's holidays. The lint calls a term longer than a maximum only when its
    longest span exceeds the maximum's longest span, so `90d` is not longer than `3m`
    (which can reach 92 days) while `3m` is longer than `90d`.
    """
    if dur.unit in ("d", "w"):
        return (add(_SPAN_FIRST, dur, country) - _SPAN_FIRST).days
    starts = (_SPAN_FIRST + timedelta(days=i) for i in range(_SPAN_DAYS))
    return max((add(s, dur, country) - s).days for s in starts)


def _longer(term: Duration | None, limit: Duration, country: str) -> bool:
    """True when `term` (None: no end) can run longer than `limit`."""
    return term is None or longest_span(term, country) > longest_span(limit, country)


class _Linter:
    def __init__(self, rb: Rulebook) -> None:
        self.rb = rb
        self.findings: list[Finding] = []

    def add(self, path: str, message: str, law: str, error: bool) -> None:
        self.findings.append(Finding(path, message, law, "error" if error else "warning"))

    # -- contexts -------------------------------------------------------------------------

    def source_of(self, record_type: str) -> Source | None:
        """The source a record type comes from: the one listing it, else its first segment."""
        listed = next((s for s in self.rb.sources if record_type in s.record_types), None)
        return listed or self.rb.source(record_type.split(".", 1)[0])

    def type_context(self, record_type: str) -> str | None:
        source = self.source_of(record_type)
        return source.context if source else None

    def service_context(self, service: str) -> str | None:
        declared = next((s for s in self.rb.services or () if s.id == service), None)
        return declared.context if declared else None

    def negative_rules(self) -> list[Rule]:
        return [r for r in self.rb.rules if r.negative]

    def cause_types(self, ld: ListDef) -> list[str]:
        if ld.when.grade_in:
            return [r.record_type for r in self.negative_rules()]
        return [ld.when.record_type] if ld.when.record_type else []

    def check_contexts(self) -> None:
        rb, seen = self.rb, set()
        named = [(f"rules[{i}].record_type", r.record_type) for i, r in enumerate(rb.rules)]
        named += [
            (f"grade_overrides[{i}].record_type", o.record_type)
            for i, o in enumerate(rb.grade_overrides)
        ]
        for i, ld in enumerate(rb.lists):
            if ld.when.record_type:
                named.append((f"lists[{i}].when.record_type", ld.when.record_type))
            if ld.cleared_by:
                named.append((f"lists[{i}].cleared_by", ld.cleared_by))
        ids = ", ".join(s.id for s in rb.sources) or "none"
        for path, record_type in named:
            if record_type in seen:
                continue
            seen.add(record_type)
            prefix = record_type.split(".", 1)[0]
            source = self.source_of(record_type)
            if source is None:
                self.add(
                    path,
                    f'record type "{record_type}" comes from no declared source'
                    f" (declared: {ids}), so its context is unknown — declare a source"
                    f' "{prefix}" with a context, or list the type under a source\'s'
                    " record_types",
                    UNRELATED,
                    False,
                )
            elif source.context is None:
                self.add(
                    path,
                    f'record type "{record_type}" comes from source "{source.id}",'
                    " which declares no context — add context: (e.g. judicial,"
                    " finance, transport) to that source",
                    UNRELATED,
                    False,
                )

        measured = []
        for i, m in enumerate(rb.measures):
            if m.effect in RESTRICTING and m.service not in [s for _, s in measured]:
                measured.append((i, m.service))
        for i, service in measured:
            if rb.services is None:
                self.add(
                    f"measures[{i}].service",
                    f'service "{service}" has no declared'
                    " context because the rulebook declares no services — add services:"
                    f" [{{id: {service}, context: ...}}]",
                    UNRELATED,
                    False,
                )
                continue
            j = next(k for k, s in enumerate(rb.services) if s.id == service)
            if rb.services[j].context is None:
                self.add(
                    f"services[{j}]",
                    f'service "{service}" declares no context — add'
                    " context: (e.g. transport, finance)",
                    UNRELATED,
                    False,
                )

    def check_unrelated(self) -> None:
        for i, m in enumerate(self.rb.measures):
            ld = self.rb.list_def(m.list)
            if ld is None or ld.kind != "restrict" or m.effect not in RESTRICTING:
                continue
            service_context = self.service_context(m.service)
            causes = {t: self.type_context(t) for t in self.cause_types(ld)}
            known = {c for c in causes.values() if c is not None}
            if service_context is None or not known or service_context in known:
                continue  # an unknown context is its own warning; a related one is fine
            where = ", ".join(sorted(known))
            said = (
                f'list "{ld.id}" ({where} records) leads to {m.effect} at service'
                f' "{m.service}" ({service_context}), a context unrelated to where its'
                " causing records were collected"
            )
            if m.justification:
                self.add(
                    f"measures[{i}]",
                    f'{said}; justified in the rulebook: "{_clip(m.justification)}"',
                    UNRELATED,
                    False,
                )
            else:
                self.add(
                    f"measures[{i}]",
                    f"{said} — drop the measure, or write the law that"
                    " ties the two in the measure's justification",
                    UNRELATED,
                    True,
                )

    # -- lists ----------------------------------------------------------------------------

    def severity(self, ld: ListDef) -> tuple[str, str]:
        """The list's severity and where it came from."""
        if ld.severity:
            return ld.severity, "declared severity"
        rule = self.rb.rule_for(ld.when.record_type) if ld.when.record_type else None
        if rule is None:
            return "general", "no severity declared, general by default"
        if rule.points is not None:
            size = abs(rule.points)
        else:
            low, high = rule.points_range or (0.0, 0.0)
            size = max(abs(low), abs(high))
        tier = "minor" if size < 30 else "general" if size < 100 else "serious"
        return tier, f'severity from rule "{rule.id}", {size:g} points'

    def check_list(self, i: int, ld: ListDef) -> None:
        rb, path = self.rb, f"lists[{i}]"
        effects = {m.effect for m in rb.measures if m.list == ld.id}

        tier, why = self.severity(ld)
        limit = rb.due_process.max_term[tier]
        if _longer(ld.term, limit, rb.country):
            term = (
                f"term {ld.term}"
                if ld.term
                else "no term (no fixed end: it lasts while its cause holds)"
            )
            deny = "deny" in effects
            self.add(
                f"{path}.term" if ld.term else path,
                f'restrict list "{ld.id}" has {term}, longer than the {limit} allowed for'
                f" a {tier} case ({why}; due_process.max_term)"
                f"{' and denies a service' if deny else ''} — shorten the term to at"
                f" most {limit}, or declare the severity the behaviour really has",
                DISPROPORTIONATE,
                deny,
            )

        if ld.term is None and ld.cleared_by is None:
            lasting = [t for t in self.cause_types(ld) if not self.valid_for(t)]
            if lasting:
                self.add(
                    path,
                    f'restrict list "{ld.id}" has no exit: no term, no cleared_by,'
                    f" and its cause {', '.join(lasting)} counts forever (no valid_for)"
                    " — add a term, a cleared_by record type, or a valid_for to the rule",
                    GUOBANFA,
                    True,
                )

        if not ld.legal_basis.strip():
            self.add(
                path,
                f'restrict list "{ld.id}" has no legal_basis — name the law or'
                " regulation that allows this restriction",
                GUOBANFA,
                True,
            )

        if ld.when.grade_in:
            suspend = rb.due_process.suspend_on_objection
            said = (
                f'restrict list "{ld.id}" is caused by a grade, i.e. by automated scoring'
                " alone; the person must be able to obtain human review"
            )
            if suspend:
                self.add(
                    f"{path}.when",
                    f"{said} — objections provide it and suspend the entry meanwhile",
                    AUTOMATED,
                    False,
                )
            else:
                self.add(
                    f"{path}.when",
                    f"{said}, and due_process.suspend_on_objection is false"
                    " so the sanction runs while a human reviews it — set it to true, or"
                    " cause the list by records instead of a grade",
                    AUTOMATED,
                    True,
                )

    def valid_for(self, record_type: str) -> Duration | None:
        rule = self.rb.rule_for(record_type)
        return rule.valid_for if rule else None

    def run(self) -> list[Finding]:
        self.check_contexts()
        for i, ld in enumerate(self.rb.lists):
            if ld.kind == "restrict":
                self.check_list(i, ld)
        self.check_unrelated()
        return self.findings


def _clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def lint(rb: Rulebook) -> list[Finding]:
    """Return the findings of SPEC §3 "Lint" for a valid rulebook, errors and warnings."""
    return _Linter(rb).run()


def lint_report(text: str) -> dict:
    """Validate and lint a rulebook's YAML: the `rulebook lint --json` shape of SPEC §4.

    Validation problems come first, as errors without a law; a rulebook that does not load
    is not linted.
    """
    errors = [{"path": p.path, "message": p.message, "law": None} for p in validate(text)]
    warnings: list[dict] = []
    if not errors:
        for f in lint(load_rulebook(text)):
            (errors if f.level == "error" else warnings).append(f.as_dict())
    return {"ok": not errors, "errors": errors, "warnings": warnings}
