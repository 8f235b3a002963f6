"""The `socialcredit` command line (SPEC §4): parse, call one core function, present."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from socialcredit.dates import parse_date

err = Console(stderr=True)
out = Console()


class Ctx:
    def __init__(self, db: str | None, as_json: bool) -> None:
        self.db, self.json = db, as_json
        self._store = None

    @property
    def store(self):
        if self._store is None:
            from socialcredit.store import Store

            self._store = Store.open(self.db)
        return self._store

    def emit(self, data, human=None) -> None:
        if self.json or human is None:
            click.echo(
                json.dumps(data, ensure_ascii=False, indent=None if self.json else 2, default=str)
            )
        else:
            human(data)


def day_option(name: str = "--as-of", help: str = "the date the answer is for (default: today)"):
    return click.option(name, "as_of", default=None, help=help, callback=_to_date)


def _to_date(ctx, param, value):
    if value is None:
        return date.today() if param.name == "as_of" else None
    try:
        return parse_date(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def progress_bar():
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


pass_ctx = click.make_pass_decorator(Ctx)


@click.group()
@click.pass_context
def cli(click_ctx, **_):
    """An open social credit engine: every point explained, every sanction contestable."""


# -- rulebook ------------------------------------------------------------------------------


@cli.group()
def rulebook():
    """Load, validate and show rulebooks."""


def _problems(text: str) -> dict:
    from socialcredit.rulebook import validate

    errors = [
        {"path": p.path, "message": p.message, "law": getattr(p, "law", None)}
        for p in validate(text)
    ]
    return {"ok": not errors, "errors": errors, "warnings": []}


def _print_problems(data):
    for level in ("errors", "warnings"):
        for f in data[level]:
            law = f" [{f['law']}]" if f.get("law") else ""
            click.echo(f"{level[:-1]:7} {f['path']}: {f['message']}{law}")
    click.echo(f"{len(data['errors'])} error(s), {len(data['warnings'])} warning(s)")


@rulebook.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def rulebook_validate(ctx, file):
    """Check a rulebook file and list every problem by path."""
    data = _problems(Path(file).read_text(encoding="utf-8"))
    ctx.emit(data, _print_problems)
    sys.exit(0 if data["ok"] else 1)


@rulebook.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def rulebook_lint(ctx, file):
    """Lint a rulebook against the law (SPEC §3 "Lint"); non-zero exit on any error."""
    from socialcredit.rulebook.lint import lint_report

    data = lint_report(Path(file).read_text(encoding="utf-8"))
    ctx.emit(data, _print_problems)
    sys.exit(0 if data["ok"] else 1)


@rulebook.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def rulebook_load(ctx, file):
    """Load a rulebook version and make its id the active rulebook."""
    from socialcredit.rulebook import load_rulebook

    rb = load_rulebook(Path(file).read_text(encoding="utf-8"))
    new = ctx.store.load_rulebook(rb)
    data = {"rulebook": rb.id, "version": rb.version, "loaded": new}
    ctx.emit(
        data,
        lambda d: click.echo(
            f"rulebook {d['rulebook']} v{d['version']} " + ("loaded" if new else "already loaded")
        ),
    )


@rulebook.command("show")
@day_option()
@pass_ctx
def rulebook_show(ctx, as_of):
    """Print the rulebook in force (YAML, as loaded)."""
    rb = ctx.store.rulebook_in_force(as_of)
    ctx.emit(
        {"rulebook": rb.id, "version": rb.version, "text": rb.text}, lambda d: click.echo(d["text"])
    )


# -- records -------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", default=None, help="source id for rows that name none")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default=None)
@day_option(help="the day the ingest happens (default: today)")
@pass_ctx
def ingest(ctx, file, source, fmt, as_of):
    """Ingest a record file (CSV, JSON Lines or Parquet)."""
    from socialcredit.ingest import ingest_file

    with progress_bar() as bar:
        task = bar.add_task(f"ingest {Path(file).name}", total=None)
        report = ingest_file(
            ctx.store,
            file,
            source=source,
            fmt=fmt,
            as_of=as_of,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    ctx.emit(report.to_json(), _print_ingest)


def _print_ingest(d):
    click.echo(
        f"accepted {d['accepted']}, duplicates {d['duplicates']}, "
        f"corrections {d['corrections']}, rejected {d['rejected']}"
    )
    for r in d["rejected_rows"][:20]:
        click.echo(f"  row {r['row']}: {r['field']}: {r['reason']}")
    if d["rejected"] > 20:
        click.echo(f"  ... and {d['rejected'] - 20} more: socialcredit rejects")


@cli.command()
@click.option("--source", default=None)
@pass_ctx
def rejects(ctx, source):
    """List rejected rows with file, row, field and reason."""
    rows = ctx.store.rejects(source)
    ctx.emit(
        rows,
        lambda rs: (
            [click.echo(f"{r['file']} row {r['row']}: {r['field']}: {r['reason']}") for r in rs]
            or click.echo("no rejected rows")
        ),
    )


# -- evaluation ----------------------------------------------------------------------------


@cli.command()
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb")
@day_option()
@pass_ctx
def score(ctx, engine, as_of):
    """Rescore everyone, update lists and the decision index, send notices."""
    from socialcredit.scoring import score_population

    with progress_bar() as bar:
        task = bar.add_task("score", total=None)
        summary = score_population(
            ctx.store,
            as_of,
            engine,
            progress=lambda step: bar.update(task, description=f"score: {step}"),
        )
    ctx.emit(summary, _print_summary)


def _print_summary(s):
    t = Table(
        title=f"{s['subjects']} subjects scored on {s['as_of']} ({s['engine']}, {s['seconds']} s)"
    )
    t.add_column("grade")
    t.add_column("people", justify="right")
    for g, n in s["by_grade"].items():
        t.add_row(g, f"{n:,}")
    out.print(t)
    t = Table(title="lists")
    for c in ("list", "pending", "active", "suspended"):
        t.add_column(c, justify="right" if c != "list" else "left")
    for name, counts in s["lists"].items():
        t.add_row(name, *(f"{counts[k]:,}" for k in ("pending", "active", "suspended")))
    out.print(t)


def who(f):
    f = click.option("--national-id", default=None)(f)
    return click.option("--subject", "subject_id", default=None)(f)


def need_one(national_id, subject_id):
    if (national_id is None) == (subject_id is None):
        raise click.UsageError("give exactly one of --national-id or --subject")


@cli.command()
@click.option(
    "--rulebook",
    "rulebook_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="the candidate rulebook",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the report as a self-contained HTML page with charts",
)
@click.option("--seed", type=int, default=0, help="bootstrap seed of the fairness intervals")
@day_option()
@pass_ctx
def simulate(ctx, rulebook_file, html_path, seed, as_of):
    """What a candidate rulebook would do to the population, changing nothing."""
    from socialcredit.rulebook import load_rulebook
    from socialcredit.simulate import demographics_table, render_html
    from socialcredit.simulate import simulate as run_simulation

    candidate = load_rulebook(Path(rulebook_file).read_text(encoding="utf-8"))
    store = ctx.store
    demographics = demographics_table(store.subject_attributes(), as_of)
    report = run_simulation(
        store.batch_tables(),
        store.rulebook_in_force(as_of),
        candidate,
        as_of,
        demographics,
        seed=seed,
    )
    if html_path:
        Path(html_path).write_text(render_html(report), encoding="utf-8")
    ctx.emit(report)


@cli.group()
def subject():
    """A subject's file."""


@subject.command("show")
@who
@day_option()
@click.option("--known-at", default=None, callback=_to_date, help="use only what was known then")
@pass_ctx
def subject_show(ctx, national_id, subject_id, as_of, known_at):
    """The whole file: score, grade, contributions, lists, notices, who checked."""
    from socialcredit.subjects import show

    need_one(national_id, subject_id)
    data = show(ctx.store, as_of, national_id=national_id, subject_id=subject_id, known_at=known_at)
    ctx.emit(data, _print_file)


def _print_file(d):
    out.print(
        f"[bold]{d['subject_id']}[/bold] ({d['national_id']}) on {d['as_of']}, "
        f"rulebook {d['rulebook']['id']} v{d['rulebook']['version']}"
    )
    out.print(f"score {d['score']}  grade [bold]{d['grade']}[/bold]")
    t = Table(title="records")
    for c in ("record", "type", "occurred", "rule", "points", "counts"):
        t.add_column(c)
    for r in d["records"]:
        t.add_row(
            f"{r['source']}:{r['record_id']}",
            r["type"],
            r["occurred_at"],
            r["rule"] or "",
            f"{r['points']:+g}",
            "yes" if r["counts"] else "no",
        )
    out.print(t)
    for e in d["lists"]:
        out.print(
            f"list {e['list']}: {e['state']} since {e['since']} until {e['until'] or 'open'}"
            f" (cause {', '.join(e['cause']) or 'grade'})"
        )
    for n in d["notices"]:
        out.print(f"notice {n['date']} {n['kind']}: {n['text']}")
    for c in d["checks"]:
        out.print(f"{c['purpose']} by {c['by']} ({c['role']}) at {c['at']} {c.get('service', '')}")


@cli.command()
@click.option("--service", required=True)
@who
@day_option()
@pass_ctx
def check(ctx, service, national_id, subject_id, as_of):
    """A decision as a provider gets it: never a score, grade or record."""
    from socialcredit.subjects import check as run_check

    need_one(national_id, subject_id)
    data = run_check(ctx.store, service, as_of, national_id=national_id, subject_id=subject_id)
    ctx.emit(
        data,
        lambda d: click.echo(
            f"{d['decision']} at {d['service']} on {d['as_of']}"
            + "".join(
                f"\n  {r['list']} since {r['since']} until {r['until'] or 'open'}"
                f" — {r['legal_basis']}"
                for r in d["reasons"]
            )
        ),
    )


@cli.group()
def consent():
    """Consent to scoring or to one source."""


def _consent(action):
    @click.option("--national-id", required=True)
    @click.option("--source", default=None, help="one source (absent: scoring itself)")
    @day_option()
    @pass_ctx
    def command(ctx, national_id, source, as_of):
        from socialcredit.subjects import set_consent

        data = set_consent(ctx.store, national_id, action, as_of, source)
        ctx.emit(data, lambda d: click.echo(f"consent {action} recorded on {d['on']}"))

    command.__doc__ = f"{action.capitalize()} consent."
    return consent.command(action)(command)


_consent("grant")
_consent("revoke")


@cli.group()
def objection():
    """The dispute workflow."""


@objection.command("file")
@click.option("--record", "target", required=True, help="SOURCE:RECORD_ID")
@click.option("--reason", required=True)
@day_option()
@pass_ctx
def objection_file(ctx, target, reason, as_of):
    """Object to a record; restrict entries it caused are suspended meanwhile."""
    from socialcredit.objections import file_objection

    data = file_objection(ctx.store, target, reason, as_of)
    ctx.emit(data, lambda d: click.echo(f"{d['objection_id']} open, deadline {d['deadline']}"))


@objection.command("decide")
@click.argument("objection_id")
@click.option("--outcome", type=click.Choice(["accepted", "rejected"]), required=True)
@click.option("--note", required=True)
@day_option()
@pass_ctx
def objection_decide(ctx, objection_id, outcome, note, as_of):
    """Decide an objection (an official), with a note."""
    from socialcredit.objections import decide_objection

    data = decide_objection(ctx.store, objection_id, outcome, note, as_of)
    ctx.emit(data, lambda d: click.echo(f"{d['objection_id']} {d['state']}"))


@cli.group()
def audit():
    """The tamper-evident log."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx):
    """Check every link of the log; non-zero exit at the first broken one."""
    data = ctx.store.verify_audit()
    ctx.emit(
        data,
        lambda d: click.echo(
            f"ok: {d['entries']} entries"
            if d["ok"]
            else f"broken at {d['broken_at']}: {d['reason']}"
        ),
    )
    sys.exit(0 if data["ok"] else 1)


@cli.command()
@click.option("--residents", default=100_000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--no-serve", is_flag=True, help="print the results and exit")
@day_option()
@pass_ctx
def demo(ctx, residents, seed, no_serve, as_of):
    """Build a synthetic city in an empty store, run the whole pipeline, show the results."""
    from socialcredit.demo import build

    with progress_bar() as bar:
        summary = build(ctx.store, residents, seed, as_of, bar)
    ctx.emit(
        summary,
        lambda s: (
            _print_summary(s),
            click.echo(
                "\nTry: socialcredit subject show --national-id " + s["sample_national_ids"][0]
            ),
        ),
    )
    if not no_serve:
        err.print("The web console is not part of this version yet; results are above.")


# -- identity (issue 3) -------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--retrain", is_flag=True, help="train a new model version first")
@click.option("--relink", is_flag=True, help="re-decide the model's earlier links too")
@day_option(help="the day the linkage happens (default: today)")
@click.pass_context
def link(click_ctx, retrain, relink, as_of):
    """Resolve identities of records without a valid national id."""
    if click_ctx.invoked_subcommand is not None:
        return
    from socialcredit.identity import link_batch

    ctx = click_ctx.find_object(Ctx)
    with progress_bar() as bar:
        bar.add_task("link", total=None)
        report = link_batch(ctx.store, as_of, retrain=retrain, relink=relink)
    ctx.emit(report.to_json(), _print_link)


def _print_link(d):
    click.echo(
        f"model v{d['model_version']}, threshold {d['threshold']}: {d['considered']} considered, "
        f"{d['linked']} linked, {d['review']} to review, {d['unmatched']} without candidate, "
        f"{d['confirmed']} confirmed by an official, {d['waiting']} waiting for a model"
    )
    for p in d["problems"][:20]:
        where = f"{p['source']}:{p['record_id']}: " if p["source"] else ""
        click.echo(f"  {where}{p['problem']}")
    if len(d["problems"]) > 20:
        click.echo(f"  ... and {len(d['problems']) - 20} more (--json lists them all)")


@link.command("review")
@click.option("--no-unmatched", is_flag=True, help="leave out records without any candidate")
@pass_ctx
def link_review(ctx, no_unmatched):
    """The review queue: records linked below min_link_confidence, or to no one."""
    from socialcredit.identity import review_queue

    rows = review_queue(ctx.store, include_unmatched=not no_unmatched)

    def human(rows):
        if not rows:
            click.echo("the review queue is empty")
            return
        t = Table(title=f"{len(rows)} records waiting for an official")
        for c in ("record", "state", "best candidate", "probability", "confidence"):
            t.add_column(c, justify="right" if c in ("probability", "confidence") else "left")
        for r in rows:
            t.add_row(
                f"{r['source']}:{r['record_id']}", r["state"], r["subject_id"] or "—",
                "—" if r["match_probability"] is None else f"{r['match_probability']:.4f}",
                "—" if r["confidence"] is None else f"{r['confidence']:.4f}",
            )  # fmt: skip
        out.print(t)

    ctx.emit(rows, human)


@link.command("show")
@click.option("--record", "target", required=True, help="SOURCE:RECORD_ID")
@pass_ctx
def link_show(ctx, target):
    """Why a record was linked (or not): comparison levels and their match weights."""
    from socialcredit.identity import explanation
    from socialcredit.objections import parse_target

    source, record_id = parse_target(target)
    found = explanation(ctx.store, source, record_id)
    if found is None:
        raise click.UsageError(f"{target} has not been through linkage — run socialcredit link")

    def human(d):
        why = d["explanation"]
        click.echo(
            f"{target}: {d['state']} -> {d['subject_id'] or 'no one'} "
            f"(probability {d['match_probability']}, confidence {d['confidence']}, "
            f"model v{d['model_version']}, {d['linked_on']})"
        )
        if "prior_weight" in why:
            click.echo(f"  prior weight {why['prior_weight']:+.2f}")
        for c in why.get("comparisons", []):
            click.echo(
                f"  {c['comparison']:<11} {c['match_weight']:+7.2f}  {c['level']}  "
                f"({c['record']!r} / {c['subject']!r})"
            )
        if "match_weight" in why:
            click.echo(f"  total       {why['match_weight']:+7.2f}")
        for sid in why.get("excluded_by_judgement", []):
            click.echo(f"  kept apart from {sid} by an official's judgement")

    ctx.emit(found, human)


@link.command("judge")
@click.option("--record", "target", required=True, help="SOURCE:RECORD_ID")
@click.option("--subject", "subject_id", required=True)
@click.option("--same/--different", required=True, help="same person, or different people")
@click.option("--official", default="official", help="who decides (goes to the audit log)")
@click.option("--note", default=None)
@day_option(help="the day of the judgement (default: today)")
@pass_ctx
def link_judge(ctx, target, subject_id, same, official, note, as_of):
    """An official's judgement on a pair; it overrides the model for good."""
    from socialcredit.identity import judge
    from socialcredit.objections import parse_target

    source, record_id = parse_target(target)
    report = judge(ctx.store, source, record_id, subject_id, same=same, by=official,
                   on=as_of, note=note)  # fmt: skip
    ctx.emit(report.to_json(), _print_link)


# -- the commercial score (issue 9) ----------------------------------------------------


@cli.group()
def model():
    """The commercial credit score: an opt-in scorecard on the 350–950 scale."""


@model.command("train")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="seed of the stratified 70/30 train/test split",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the model card as a self-contained HTML page",
)
@click.option(
    "--markdown",
    "md_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the model card as Markdown",
)
@day_option(help="the training day: features a year before it, outcomes up to it (default: today)")
@pass_ctx
def model_train(ctx, seed, html_path, md_path, as_of):
    """Train, validate and store a new version of the scorecard, with its model card."""
    from socialcredit.scorecard import card as cards
    from socialcredit.scorecard import store as models
    from socialcredit.scorecard.train import train
    from socialcredit.simulate import demographics_table

    store = ctx.store
    demographics = demographics_table(store.subject_attributes(), as_of)
    fitted, card = train(
        store.batch_tables(known_at=as_of),
        store.rulebook_in_force,
        as_of,
        demographics=demographics,
        seed=seed,
    )
    version = models.save(store, fitted)
    store.audit(
        "cli",
        "official",
        "model_train",
        detail={"version": version, "as_of": str(as_of), "seed": seed},
    )
    if html_path:
        Path(html_path).write_text(cards.render_html(card), encoding="utf-8")
    if md_path:
        Path(md_path).write_text(cards.render_markdown(card), encoding="utf-8")
    test = card["discrimination"]["test"]
    data = {
        "version": version,
        "as_of": str(as_of),
        "feature_day": card["meta"]["feature_day"],
        "train": card["data"]["train"],
        "test": card["data"]["test"],
        "auc_test": test["auc"],
        "gini_test": test["gini"],
        "ks_test": test["ks"],
        "psi_score": card.get("stability", {}).get("score"),
        "features": [f["name"] for f in card["features"]],
        "dropped": [d["name"] for d in card["dropped"]],
    }
    ctx.emit(
        data,
        lambda d: click.echo(
            f"model v{d['version']} trained on {d['as_of']} ({d['train']['n']} people, "
            f"{d['train']['defaults']} defaults): AUC {d['auc_test']:.3f}, "
            f"Gini {d['gini_test']:.3f}, KS {d['ks_test']:.3f} on {d['test']['n']} held out"
        ),
    )


@model.command("show")
@click.option("--version", type=int, default=None, help="a stored version (default: the latest)")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the model card as a self-contained HTML page",
)
@pass_ctx
def model_show(ctx, version, html_path):
    """The model card of a stored scorecard version (JSON with --json, else Markdown)."""
    from socialcredit.scorecard import card as cards
    from socialcredit.scorecard import store as models

    fitted = models.load(ctx.store, version)
    card = fitted.meta.get("card") or {}
    if html_path and card:
        Path(html_path).write_text(cards.render_html(card), encoding="utf-8")
    data = {
        "version": fitted.meta.get("version"),
        "versions": models.versions(ctx.store),
        "digest": fitted.meta.get("digest"),
        "model": fitted.to_dict(),
    }
    ctx.emit(
        data,
        lambda d: click.echo(
            cards.render_markdown(card) if card else f"model v{d['version']} (no card stored)"
        ),
    )


@model.command("score")
@who
@day_option()
@pass_ctx
def model_score(ctx, national_id, subject_id, as_of):
    """A subject's commercial score with the factors that lowered it (needs scoring consent)."""
    from socialcredit.scorecard import store as models
    from socialcredit.scorecard.apply import score_file
    from socialcredit.scorecard.reasons import notice
    from socialcredit.subjects import resolve

    need_one(national_id, subject_id)
    store = ctx.store
    sid, _ = resolve(store, national_id, subject_id)
    if sid is None:
        raise LookupError(f"no file for national id {national_id}")
    fitted = models.load_in_force(store, as_of)
    if fitted is None:
        raise LookupError(
            f"no scorecard model trained on or before {as_of} — run `socialcredit model train`"
        )
    result = score_file(store.file(sid), store.rulebook_in_force(as_of), as_of, fitted)
    store.audit(
        "cli", "official", "read", subject_id=sid, detail={"purpose": "read", "what": "model_score"}
    )
    if result is None:
        data = {
            "subject_id": sid,
            "as_of": str(as_of),
            "score": None,
            "reason": "no scoring consent on this day: no commercial score",
        }
        ctx.emit(data, lambda d: click.echo(d["reason"]))
        return
    result["notice"] = notice(result["score"], result["reasons"], fitted)
    ctx.emit(result, lambda d: click.echo(d["notice"]))


# -- entry point ---------------------------------------------------------------------------


def split_globals(argv: list[str]) -> tuple[list[str], str | None, bool]:
    """Take --db and --json from anywhere on the line (SPEC §4)."""
    rest, db, as_json, i = [], None, False, 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            as_json = True
        elif a == "--db" and i + 1 < len(argv):
            db, i = argv[i + 1], i + 1
        elif a.startswith("--db="):
            db = a[5:]
        else:
            rest.append(a)
        i += 1
    return rest, db, as_json


def main(argv: list[str] | None = None) -> None:
    from socialcredit.errors import USER_ERRORS

    args, db, as_json = split_globals(list(sys.argv[1:] if argv is None else argv))
    ctx = Ctx(db, as_json)
    try:
        cli.main(args, prog_name="socialcredit", obj=ctx, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except USER_ERRORS as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if hasattr(e, "problems"):  # a refused rulebook: every problem, still one line
            msg = f"{msg.rstrip(':')}: " + "; ".join(str(p) for p in e.problems)
        click.echo(f"error: {msg}", err=True)
        sys.exit(1)
    finally:
        if ctx._store is not None:
            ctx._store.close()
