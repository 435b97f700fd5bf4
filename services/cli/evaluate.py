"""`wirewatch eval ...`: measure clustering, copy detection, extraction and NER on labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.base import JsonOpt, console, settings_of
from services.common.logging import configure_logging

eval_app = typer.Typer(help="Measure clustering, copy detection, extraction and NER on labelled data.",
                       no_args_is_help=True)


@eval_app.command("stories")
def eval_stories(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="labelled JSON Lines (.gz ok)")],
    predictions: Annotated[Path | None, typer.Option(help="write {id, cluster, copy_of} lines here")] = None,
    entities_cache: Annotated[Path | None, typer.Option(help="reuse/keep entity tags in this file")] = None,
    workers: Annotated[int, typer.Option(min=1, help="entity tagging processes")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Replay labelled articles in stream order through entity tagging + the store; print BCubed P/R/F1."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.stories import evaluate_stories

    configure_logging(json=False, level="WARNING")  # one line per article would drown the progress bar
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        scores = evaluate_stories(file, settings_of(ctx), predictions_path=predictions, entities_cache=entities_cache,
                                  workers=workers, progress=progress)
    result = scores.as_json()
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("corpus", "BCubed P", "BCubed R", "BCubed F1")
    for name, row in [("all", result["bcubed"]), *result["per_corpus"].items()]:
        table.add_row(name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}")
    console.print(table)
    console.print(f"gold clusters {result['gold_clusters']}, predicted {result['predicted_clusters']}")


@eval_app.command("entities")
def eval_entities(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="labelled JSON Lines (.gz ok)")],
    ner_cache: Annotated[Path | None, typer.Option(help="spaCy spans cached per piece of text")] = Path(
        ".cache/ner-spans.jsonl"),
    workers: Annotated[int, typer.Option(min=1, help="spaCy processes for uncached pieces")] = 2,
    examples: Annotated[int, typer.Option(min=0, help="fragmented (story, name) pairs to print")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Key fragmentation: per gold story, names (surnames) found under more than one entity key."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.fragmentation import evaluate_entities

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_entities(file, settings_of(ctx), cache=ner_cache, workers=workers, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    for label, f in (("in-article only ", result.in_article), ("with alias table", result.with_table),
                     ("proper names only, in-article", result.proper_in_article),
                     ("proper names only, with table", result.proper_with_table),
                     ("as a query by name sees them (through the final table)", result.queried)):
        console.print(f"{label}: {f.fragmented}/{f.pairs} (story, name) pairs fragmented = {f.share:.2%}; "
                      f"names in 2+ articles of the story: {f.multi_article_fragmented}/{f.multi_article_pairs} "
                      f"= {f.multi_article_share:.2%}", markup=False)
    rw = result.rewrites
    console.print(f"alias table rewrites: {rw.rewritten}, to a key no article of the story has in-article: "
                  f"{rw.foreign} = {rw.foreign_share:.2%}", markup=False)
    console.print(f"{result.articles} articles, {result.keys} distinct entity keys")
    for story, name, keys in result.with_table.examples[:examples]:
        console.print(f"  {story}  {name}: {', '.join(keys)}", markup=False)


@eval_app.command("copies")
def eval_copies(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the dev file the copy set is built from")],
    predictions: Annotated[Path | None, typer.Option(help="write {id, copy_of} lines here")] = None,
    sample: Annotated[int, typer.Option(min=1, help="originals sampled for re-posting")] = 400,
    seed: Annotated[int, typer.Option(help="random seed of the copy set")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Build the labelled copy set, replay it through the store and print copy precision/recall."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.copies import evaluate_copies

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        scores = evaluate_copies(file, settings_of(ctx), n=sample, seed=seed, predictions_path=predictions,
                                 progress=progress)
    result = scores.as_json()
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(f"copy precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
                  f"(tp {result['true_positives']}, fn {result['false_negatives']}, "
                  f"fp {result['false_positives']}, tn {result['true_negatives']})")


@eval_app.command("extraction")
def eval_extraction(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                              help="benchmark directory (Scrapinghub or Readability layout)")],
    as_json: JsonOpt = False,
) -> None:
    """Main-text precision/recall/F1 of wirewatch and of plain trafilatura on a benchmark of real pages."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.extraction import evaluate_extraction

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_extraction(directory, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("extractor", "scored on", "precision", "recall", "F1")
    for name, label in (("wirewatch", "words"), ("trafilatura", "words"), ("wirewatch_shingles", "4-word shingles"),
                        ("trafilatura_shingles", "4-word shingles"),
                        ("published_trafilatura_scrapinghub_shingles", "Scrapinghub benchmark, published")):
        row = result[name]
        table.add_row(name.split("_")[0], label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}")
    console.print(table)
    console.print(f"{result['pages']} pages; wirewatch refused {result['wirewatch_refused']} as no article")


@eval_app.command("ner")
def eval_ner(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CoNLL-2003 format file (eng.testb)")],
    as_json: JsonOpt = False,
) -> None:
    """Entity precision/recall/F1 (exact span and type, CoNLL's four types) of the extractor's NER."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.ner import CONLL_TYPES, evaluate_ner

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_ner(file, model=settings_of(ctx).spacy_model, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("type", "precision", "recall", "F1")
    for kind in ("all", *CONLL_TYPES):
        row = result[kind]
        table.add_row(kind, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}")
    console.print(table)
    console.print(f"{result['documents']} documents, {result['gold_entities']} gold entities, model {result['model']}")

