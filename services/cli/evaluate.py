"""`wirewatch eval ...`: measure clustering, copy detection, extraction and NER on labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
    dense: Annotated[bool, typer.Option(help="replay with dates compressed so events of one kind overlap "
                                             "(a month in its first 2 days, an ECB+ topic on one day)")] = False,
    shared_actors: Annotated[bool, typer.Option(help="dense, and every article of a window names the same "
                                                     "head of state, capital and party")] = False,
    cv: Annotated[int, typer.Option(min=0, help="instead: grouped K-fold cross-validation of the learned join "
                                               "decision (train on the other folds' events, score the K-th), "
                                               "normal, dense and shared-actors replays")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Replay labelled articles in stream order through entity tagging + the store; print BCubed and pairwise
    P/R/F1 and the most gold events inside one predicted story, overall and per corpus."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    configure_logging(json=False, level="WARNING")  # one line per article would drown the progress bar
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    if cv:
        from services.evaluation.train_stories import cross_validate, require_scikit_learn

        require_scikit_learn()
        with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
            found = cross_validate(file, settings_of(ctx), k=cv, cache=entities_cache, workers=workers,
                                   progress=progress)
        rows = {mode: {k: v.as_json() for k, v in by.items()} for mode, by in found.items()}
        if as_json:
            typer.echo(json.dumps(rows))
            return
        for mode, details in rows.items():
            typer.echo(f"{cv}-fold grouped cross-validation, {mode} replay (test folds pooled; stream N: the whole "
                       f"stream scored with fold N's model, which never saw 1/{cv} of its events)")
            _print_story_scores(details)
        return

    from services.evaluation.stories import evaluate_stories

    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        scores = evaluate_stories(file, settings_of(ctx), predictions_path=predictions, entities_cache=entities_cache,
                                  workers=workers, progress=progress, dense=dense, shared_actors=shared_actors)
    result = scores.as_json()
    if as_json:
        typer.echo(json.dumps(result))
        return
    _print_story_scores(result["details"])
    reach = scores.reach
    if reach is not None:
        pairs, split = reach.total
        typer.echo(f"same-event pairs split: {split} of {pairs}; "
                   f"{reach.undated_vs_dated[1]} of them pair an undated article (replayed at one fetch time) with a "
                   f"dated one, {reach.beyond_window[1]} are further apart than the clustering window "
                   f"(WIREWATCH_CLUSTER_WINDOW_HOURS); pairwise recall within reach {reach.recall_within:.4f}")


def _print_story_scores(details: dict[str, Any]) -> None:
    """One line per corpus ("all" first): BCubed, pairwise, and how many gold events one story holds."""
    typer.echo(f"{'corpus':<8} {'articles':>8}  {'BCubed P / R / F1':<24} {'pairwise P / R / F1':<24} "
               f"{'gold':>5} {'pred':>5}  max events/story  stories >3 events")
    for name, row in details.items():
        b, pw = row["bcubed"], row["pairwise"]
        typer.echo(f"{name:<8} {row['articles']:>8}  {_prf(b):<24} {_prf(pw):<24} {row['gold_clusters']:>5} "
                   f"{row['predicted_clusters']:>5}  {row['max_events_per_story']:>16}  "
                   f"{row['stories_over_3_events']:>17}")


def _prf(row: dict[str, float]) -> str:
    return f"{row['precision']:.4f} {row['recall']:.4f} {row['f1']:.4f}"


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
                     ("as a query by name sees them (through the final table)", result.queried),
                     ("with alias table, a place with its own evidence and a person's full name sharing a name "
                      "counted as two entities", result.two_kinds),
                     ("the same, as a query by name sees them", result.queried_two_kinds)):
        console.print(f"{label}: {f.fragmented}/{f.pairs} (story, name) pairs fragmented = {f.share:.2%}; "
                      f"names in 2+ articles of the story: {f.multi_article_fragmented}/{f.multi_article_pairs} "
                      f"= {f.multi_article_share:.2%}", markup=False)
    rw = result.rewrites
    console.print(f"alias table rewrites: {rw.rewritten}, to a key no article of the story has in-article: "
                  f"{rw.foreign} = {rw.foreign_share:.2%}", markup=False)
    console.print(f"{result.articles} articles, {result.keys} distinct entity keys")
    for story, name, keys in result.with_table.examples[:examples]:
        console.print(f"  {story}  {name}: {', '.join(keys)}", markup=False)
    if examples:
        excluded = result.two_kinds.excluded
        console.print(f"counted as two entities (a place with its own evidence, a person's full name): "
                      f"{len(excluded)} pairs", markup=False)
        for story, name, keys in excluded[:examples]:
            console.print(f"  {story}  {name}: {', '.join(keys)}", markup=False)


@eval_app.command("copies")
def eval_copies(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="JSON Lines (.gz ok) with copy labels, or the dev file")],
    synthetic: Annotated[bool, typer.Option(
        "--synthetic", help="score the synthetic copy set built from FILE even if FILE carries copy labels")] = False,
    predictions: Annotated[Path | None, typer.Option(help="write {id, copy_of} lines here")] = None,
    sample: Annotated[int, typer.Option(min=1, help="synthetic set: originals sampled for re-posting")] = 400,
    seed: Annotated[int, typer.Option(help="synthetic set: random seed")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Replay FILE through the store and print copy precision/recall on its labels (`copy_of`, `near_dup_auto`);
    with --synthetic, or when FILE has none, on re-posts generated from it (also by edit kind)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.copies import evaluate_copies

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
            evaluation = evaluate_copies(file, settings_of(ctx), synthetic=synthetic, n=sample, seed=seed,
                                         predictions_path=predictions, progress=progress)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    result = evaluation.as_json()
    if as_json:
        typer.echo(json.dumps(result))
        return
    source = "the synthetic copy set" if evaluation.source == "synthetic" else "the file's copy labels"
    typer.echo(f"{result['articles']} articles replayed; scored on {source}")
    for name, row in [("all", result), *result.get("by_kind", {}).items()]:
        positives = row["true_positives"] + row["false_negatives"]
        negatives = row["false_positives"] + row["true_negatives"]
        scores = f"P {row['precision']:.4f}  R {row['recall']:.4f}" if positives else f"{'-':<18}"
        # Plain lines (not a table): they stay readable when piped or logged.
        among = f" of {negatives}" if row["true_negatives"] else ""  # rows by time apart count no negatives
        typer.echo(f"{name:<36} {scores}  copies {positives:>4} missed {row['false_negatives']:>3}  "
                   f"false copies {row['false_positives']}{among}")
        if name == "all" and result.get("by_kind"):
            typer.echo("by edit kind of the later article:" if evaluation.source == "synthetic" else
                       "by how far apart the two articles are:")


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



DEFAULT_LEAD_CHARS = 400  # what ner-budget compares when WIREWATCH_NER_LEAD_CHARS is 0 (full text)


@eval_app.command("ner-budget")
def eval_ner_budget(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="labelled JSON Lines (.gz ok), "
                                                                          "the dev set's format")],
    lead_chars: Annotated[int | None, typer.Option(min=1, help="characters the model reads (default: "
                                                              "WIREWATCH_NER_LEAD_CHARS, or 400 when it is 0)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N articles")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The fast NER path (title + lead by the model, the rest by matching) against full-text NER: F1 of the
    people, organisations and places that recur across a story, per-article agreement and CPU of each."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.ner_budget import evaluate_ner_budget

    configure_logging(json=False, level="WARNING")
    settings = settings_of(ctx)
    lead = lead_chars or settings.ner_lead_chars or DEFAULT_LEAD_CHARS
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_ner_budget(file, model=settings.spacy_model, lead_chars=lead,
                                     ner_max_chars=settings.ner_max_chars, limit=limit, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("entities", "precision", "recall", "F1", "fast", "full")
    for name, row in (("recurring in a story", result["recurring"]),
                      *((f"  {k}", v) for k, v in result["recurring_by_type"].items()),
                      ("every entity, per article", result["all_entities"])):
        table.add_row(name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                      str(row["found"]), str(row["reference"]))
    console.print(table)
    cpu = result["cpu_ms_per_article"]
    console.print(f"{result['articles']} articles ({result['words_per_article']} words on average), "
                  f"{result['stories_with_2_or_more']} stories of 2+; model {result['model']}, lead "
                  f"{result['lead_chars']} characters; NER CPU per article: full text {cpu['full']} ms, "
                  f"fast path {cpu['fast']} ms")
    console.print("most missed: " + ", ".join(f"{k} ({n})" for k, n in result["most_missed"]))
    console.print("most extra: " + ", ".join(f"{k} ({n})" for k, n in result["most_extra"]))
