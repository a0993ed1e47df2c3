"""`python -m core evaluate`: a labeled CSV and some models in, a results file and a table out."""

from __future__ import annotations

import argparse
import getpass
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from core.commands.race_options import add_race_arguments, race_settings_of
from core.dataset import load_csv
from core.ensembles import METHODS, EnsembleSpec, ensemble_spec_of, with_ensembles
from core.errors import InputError
from core.files import check_output_path
from core.long_text import AGGREGATES, STRATEGIES
from core.summaries import MAX_NEW_TOKENS
from core.results import RunResult, TrialResult, evaluate_command, write_json
from core.rules import load_rules, rules_as_settings
from core.race_job import run_plan_raced
from core.racing import explain_race
from core.runner import Progress, plan, run_plan
from core.runtimes import RUNTIMES
from core.settings import get_settings
from core.tasks import AUTO, MODEL_KINDS
from core.tasks.base import DEFAULT_TEMPLATE, FINE_TUNE_BATCH_SIZE, FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="labeled CSV or TSV file")
    parser.add_argument("--model", action="append", default=[], help="Hub id or local folder (repeatable)")
    parser.add_argument("--text-column")
    parser.add_argument("--text-pair-column")
    parser.add_argument("--label-column")
    parser.add_argument("--slice-column", action="append", default=[], metavar="C",
                        help="metadata column to score every trial per value of, e.g. channel (repeatable; "
                             "text-length quartiles are always added)")
    parser.add_argument("--label-sep", help="separator of several labels in one cell, e.g. ';' (multi-label)")
    parser.add_argument("--delimiter", help="CSV delimiter (detected when not given)")
    parser.add_argument("--kind", default=AUTO, choices=[AUTO, *MODEL_KINDS])
    parser.add_argument("--device", action="append", help="cpu, cuda, cuda:N or mps (repeatable; default cpu)")
    parser.add_argument("--dtype", action="append", help="float32, float16, bfloat16 or int8 (repeatable; default float32)")
    parser.add_argument("--runtime", action="append", choices=RUNTIMES,
                        help="what runs the model: torch or onnxruntime (exported once per model commit and cached; "
                             "float32 or int8; repeatable; default torch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, help="truncate inputs to this many tokens (default: the model's limit)")
    parser.add_argument("--label-map", action="append", default=[], metavar="MODEL=DATA", help="map a model label to a sample label (repeatable)")
    parser.add_argument("--label-index-mapping", action="store_true", help="map LABEL_k to the k-th sample label in sorted order")
    parser.add_argument("--hypothesis-template", default=DEFAULT_TEMPLATE)
    parser.add_argument("--label-description", action="append", default=[], metavar="LABEL=TEXT", help="zero-shot text for a label (repeatable)")
    parser.add_argument("--revision", help="Hub branch, tag or commit for every --model")
    parser.add_argument("--tokenizer", help="tokenizer from another Hub id or folder")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the probe, baselines and fine-tune (default 5)")
    parser.add_argument("--epochs", type=float, default=FINE_TUNE_EPOCHS,
                        help=f"fine-tune: training epochs per fold (default {FINE_TUNE_EPOCHS:g})")
    parser.add_argument("--learning-rate", type=float, default=FINE_TUNE_LEARNING_RATE,
                        help=f"fine-tune: peak learning rate (default {FINE_TUNE_LEARNING_RATE:g})")
    parser.add_argument("--train-batch-size", type=int, default=FINE_TUNE_BATCH_SIZE,
                        help=f"fine-tune: training batch size (default {FINE_TUNE_BATCH_SIZE})")
    parser.add_argument("--patience", type=int, default=1,
                        help="fine-tune: epochs without a better validation loss before stopping (0: no early stopping)")
    parser.add_argument("--learning-curve", action="store_true",
                        help="fine-tune: also train on 25/50/75%% of each fold for a learning curve (the probe always has one)")
    parser.add_argument("--long-text", action="append", choices=STRATEGIES,
                        help="rows longer than the model's limit: truncate (default), head-tail or chunks (repeatable: "
                             "one trial per strategy)")
    parser.add_argument("--chunk-aggregate", choices=AGGREGATES,
                        help="chunks: how window probabilities combine (default mean; max for multi-label)")
    parser.add_argument("--summarizer", help="summarize-then-classify: a seq2seq summarizer (Hub id or folder) that "
                                             "rewrites the long rows before each --model reads them")
    parser.add_argument("--summarize-over", type=int, help="with --summarizer: summarize rows over this many tokens "
                                                            "(default: rows longer than the model's limit)")
    parser.add_argument("--summary-tokens", type=int, default=MAX_NEW_TOKENS,
                        help=f"with --summarizer: at most this many new tokens per summary (default {MAX_NEW_TOKENS})")
    parser.add_argument("--ner-model", action="append", default=[], metavar="ID",
                        help="entities-then-classify: a token-classification (NER) model whose entities are classified "
                             "(repeatable)")
    parser.add_argument("--ner-rules", metavar="FILE", help="with --ner-model: classify the entities with this rules file "
                                                           "(matched against 'TYPE: words; ...'); default: a "
                                                           "cross-validated logistic regression over entity types and words")
    parser.add_argument("--rules", action="append", default=[], metavar="FILE",
                        help="a keyword/regex rules file (YAML or JSON), scored as one trial named after it (repeatable)")
    add_ensemble_arguments(parser)
    add_race_arguments(parser)
    parser.add_argument("--no-baselines", action="store_true", help="skip the majority and TF-IDF baselines")
    parser.add_argument("--out", default="results.json", help="where to write the results JSON (default results.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--store", action="store_true", help="also save the run in the results store (see MSD_DATA_DIR, DATABASE_URL)")
    parser.add_argument("--submit", action="store_true",
                        help="queue the run for the background worker (started if none is alive) and return at once")
    parser.add_argument("--shared", action="store_true", help="with --store or --submit: let every user see the run")


def check_training_options(args: argparse.Namespace) -> None:
    if args.folds < 2:
        raise InputError(f"--folds {args.folds} must be at least 2.", hint="Use e.g. --folds 5.")
    if args.epochs <= 0 or args.learning_rate <= 0 or args.train_batch_size < 1 or args.patience < 0:
        raise InputError("--epochs and --learning-rate must be positive and --train-batch-size at least 1.",
                         hint="Use e.g. --epochs 3 --learning-rate 1e-4 --train-batch-size 16.")


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ensemble", action="append", default=[], choices=METHODS,
                        help="add an ensemble of the run's finished trials (repeatable): vote, mean, rules-first or stack")
    parser.add_argument("--ensemble-members", metavar="A,B,C",
                        help="the trials every --ensemble combines, by model name or full trial name "
                             "(default: every ok trial but the majority baseline)")


def ensemble_specs(args: argparse.Namespace) -> list[EnsembleSpec]:
    members = tuple(m.strip() for m in (args.ensemble_members or "").split(",") if m.strip())
    if members and not args.ensemble:
        raise InputError("--ensemble-members was given without --ensemble.", hint="Add e.g. --ensemble vote.")
    return [EnsembleSpec(method, members) for method in dict.fromkeys(args.ensemble)]


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, target = value.partition("=")
        if not sep or not key.strip() or not target.strip():
            raise InputError(f"{option} {value!r} is not of the form KEY=VALUE.", hint=f"Write it like {option} POSITIVE=good.")
        pairs[key.strip()] = target.strip()
    return pairs


def run(args: argparse.Namespace) -> int:
    if not args.model and not args.rules and not args.ner_model and args.no_baselines:
        raise InputError("Nothing to evaluate: no --model or --rules given and baselines are off.",
                         hint="Add --model ID_OR_PATH or --rules FILE.")
    if args.batch_size < 1:
        raise InputError(f"--batch-size {args.batch_size} must be at least 1.", hint="Use e.g. --batch-size 32.")
    check_training_options(args)
    race = race_settings_of(args)
    out = None if args.submit else check_output_path(args.out)
    sample = load_csv(
        args.data, text_column=args.text_column, text_pair_column=args.text_pair_column,
        label_column=args.label_column, label_sep=args.label_sep, delimiter=args.delimiter,
        slice_columns=args.slice_column,
    )
    for warning in sample.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rule_sets = [rules_as_settings(load_rules(path)) for path in args.rules]
    specs = plan(
        args.model, kind=args.kind, devices=args.device, dtypes=args.dtype, runtimes=args.runtime, baselines=not args.no_baselines,
        rules=rule_sets,
        batch_size=args.batch_size, max_length=args.max_length, revision=args.revision, tokenizer=args.tokenizer,
        label_map=parse_pairs(args.label_map, "--label-map"), label_index_mapping=args.label_index_mapping,
        hypothesis_template=args.hypothesis_template,
        label_descriptions=parse_pairs(args.label_description, "--label-description"),
        folds=args.folds, epochs=args.epochs, learning_rate=args.learning_rate, train_batch_size=args.train_batch_size,
        patience=args.patience, learning_curve=args.learning_curve, long_texts=args.long_text,
        chunk_aggregate=args.chunk_aggregate, summarizer=args.summarizer, summarize_over=args.summarize_over,
        summary_tokens=args.summary_tokens, ner_models=args.ner_model,
        ner_rules=rules_as_settings(load_rules(args.ner_rules)) if args.ner_rules else None,
    )
    ensembles = ensemble_specs(args)
    if args.submit and ensembles:
        raise InputError("--ensemble cannot be queued with --submit: ensembles are built once the models have run.",
                         hint="Submit without it, then run: python -m core runs ensemble RUN_ID --ensemble METHOD "
                              "(or use Compare's ensemble control).")
    if args.submit:
        return submit_job(sample, specs, shared=args.shared, race=race)
    with ProgressBar(enabled=not args.quiet) as bar:
        if race:
            result = run_plan_raced(specs, sample, race, settings=get_settings(), progress=bar.update, command=this_command())
        else:
            result = run_plan(specs, sample, settings=get_settings(), progress=bar.update, command=this_command())
    if ensembles:
        result = with_ensembles(result, sample, ensembles)
    print(format_table(result))
    if race:
        print(f"\nnote: {explain_race(result.results)}")
    for warning in result.warnings:
        print(f"\nnote: {warning}")
    print_findings(result, sample)
    written = write_results(result, out)
    if args.store:
        from core.store import Store

        stored_specs = [asdict(s) for s in specs] + [ensemble_spec_of(t) for t in result.results[len(specs):]]
        run_id = Store().save_completed_run(sample, stored_specs, result, started_by=current_user(), shared=args.shared)
        print(f"stored as run {run_id}")
    if not written:
        return 2
    return 0 if result.succeeded else 1


def print_findings(result: RunResult, sample) -> None:
    """What stands out per slice, and what long texts cost, in the words of Compare and the report."""
    if not result.succeeded:
        return
    from core.compare import build_comparison
    from core.report.tables import LONG_TEXT_HEADER, long_text_cells

    comparison = build_comparison(result, sample=sample)
    for sentence in comparison.slices.sentences:
        print(f"\nslice: {sentence}")
    if comparison.long_texts:
        print("\nlong texts: " + " | ".join(LONG_TEXT_HEADER))
        for row in comparison.long_texts:
            print("  " + " | ".join(long_text_cells(row)))


def write_results(result: RunResult, out: Path) -> bool:
    """The results file; if it cannot be written now (a full disk), the results are kept elsewhere
    and the message says where. False when `out` was not written."""
    try:
        print(f"\nwrote {write_json(result, out)}")
        return True
    except OSError as error:
        kept = keep_elsewhere(result, out.name)
        where = f"they were saved to {kept} instead" if kept else "they could not be saved anywhere else either"
        print(f"error: {out} could not be written ({error.strerror or error}); {where}. Free space or choose "
              "another --out; nothing was lost from the store.", file=sys.stderr)
        return False


def keep_elsewhere(result: RunResult, name: str) -> Path | None:
    """The results in MSD_DATA_DIR/unsaved/ or, failing that, the temporary folder; None if neither takes them."""
    stamp = result.created_at.replace(":", "").replace("-", "")[:15]
    for folder in (get_settings().data_dir / "unsaved", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return write_json(result, folder / f"{Path(name).stem}-{stamp}.json")
        except OSError:
            continue
    return None


def submit_job(sample, specs, *, shared: bool, race=None) -> int:
    """Queue the run and make sure a worker will pick it up; prints the run id."""
    from core.store import Store
    from core.supervision import ensure_worker
    from core.worker import submit

    run_id = submit(Store(), sample, specs, started_by=current_user(), shared=shared, command=this_command(), race=race)
    started = ensure_worker()
    print(f"queued as run {run_id}{' (started a background worker)' if started else ''}")
    print(f"follow it with: python -m core runs progress {run_id} --watch")
    return 0


def current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return None


def this_command() -> str:
    """How this very run was started, recorded with the results so the report can repeat it."""
    return evaluate_command(sys.argv[2:])


class ProgressBar:
    """A tqdm bar on stderr per trial, showing the step and rows done."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.trial = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, progress: Progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.trial != (progress.trial_index, progress.trial):
            if self.bar is not None:
                self.bar.close()
            self.trial = (progress.trial_index, progress.trial)
            label = f"[{progress.trial_index + 1}/{progress.trial_count}] {progress.trial}"
            self.bar = tqdm(total=None, desc=label, file=sys.stderr, unit="rows", leave=True)
        if progress.rows_total and self.bar.total != progress.rows_total:
            self.bar.reset(total=progress.rows_total)
        self.bar.n = round(progress.rows_done, 1)
        self.bar.set_postfix_str(progress.step, refresh=True)


def format_table(result: RunResult) -> str:
    header = f"{'model':<44} {'kind':<24} {'device':<7} {'dtype':<8} {'accuracy (95% CI)':<22} {'macro-F1':>8} {'p50 ms':>8} {'p95 ms':>8} {'rows/s':>9}"
    lines = [header, "-" * len(header)]
    lines += [table_row(trial) for trial in result.results]
    return "\n".join(lines)


def table_row(trial: TrialResult) -> str:
    name = trial.model if len(trial.model) <= 44 else "..." + trial.model[-41:]
    dtype = trial.dtype if trial.runtime != "onnxruntime" else f"{trial.dtype} (onnxruntime)"
    start = f"{name:<44} {trial.kind:<24} {trial.device:<7} {dtype:<8} "
    if not trial.ok:
        return start + f"error: {trial.error}"
    m, lat = trial.metrics, trial.latency
    accuracy = f"{m.accuracy:.3f} [{m.accuracy_ci[0]:.3f}, {m.accuracy_ci[1]:.3f}]"
    if trial.stopped_early:  # no latency: only a race's last round is timed
        return start + f"{accuracy:<22} {m.macro_f1:>8.3f}  {trial.race.sentence}"
    return start + f"{accuracy:<22} {m.macro_f1:>8.3f} {lat.p50_ms:>8.2f} {lat.p95_ms:>8.2f} {lat.throughput_per_s:>9.1f}"

