"""The opt-in commercial score: model train, show, score."""

from __future__ import annotations

from pathlib import Path

import click

from socialcredit.cli.base import (
    cli,
    day_option,
    need_one,
    pass_ctx,
    who,
)

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
    from socialcredit.scorecard.train import train_stored

    version, card = train_stored(ctx.store, as_of, seed)
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
