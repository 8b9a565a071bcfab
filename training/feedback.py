"""Visitor feedback from the command line: statistics, training-set exports and deletions.

    python -m training.feedback stats                                  # JSON: counts per label, per-model accuracy
    python -m training.feedback export --format idx --out data/feedback # MNIST IDX files (labels 0..9 only)
    python -m training.feedback export --format imagefolder --out data/feedback_png
    python -m training.feedback delete 12 13

The database is --db-url, else $PLAYGROUND_DB_URL, else ./data/feedback.sqlite3 (see feedback/store.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from feedback import FeedbackError, FeedbackStore
from feedback.store import DB_URL_ENV, DIR_ENV


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)  # --db-url after any sub-command
    common.add_argument(
        "--db-url",
        help=f"SQLAlchemy database URL (default: ${DB_URL_ENV}, else feedback.sqlite3 in ${DIR_ENV} or ./data)",
    )
    parser = argparse.ArgumentParser(prog="python -m training.feedback", description="Visitor feedback on drawings.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("stats", parents=[common], help="print counts per label and per-model accuracy as JSON")
    export = commands.add_parser("export", parents=[common], help="write the drawings out as a training set")
    export.add_argument(
        "--format",
        choices=["idx", "imagefolder"],
        required=True,
        help="idx: MNIST files in OUT/MNIST/raw (labels 0..9 only); imagefolder: OUT/<label>/<id>.png",
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    delete = commands.add_parser("delete", parents=[common], help="delete drawings and their answers")
    delete.add_argument("ids", metavar="ID", type=int, nargs="+", help="id of a drawing to delete")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; returns the exit status (1: some ids not found, 2: the store failed)."""
    args = build_parser().parse_args(argv)
    with FeedbackStore(args.db_url) as store:
        try:
            if args.command == "stats":
                print(json.dumps(store.stats(), indent=2))
            elif args.command == "export":
                export = store.export_idx if args.format == "idx" else store.export_imagefolder
                print(f"exported {export(args.out)} drawings to {args.out}")
            else:
                missing = [i for i in args.ids if not store.delete(i)]
                print(
                    f"deleted {len(args.ids) - len(missing)} drawing(s)"
                    + (f"; not found: {missing}" if missing else "")
                )
                return 1 if missing else 0
        except FeedbackError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
