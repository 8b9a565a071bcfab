"""One entry point for every model: ``python -m training.train <model> [flags]``; ``<model> --help`` lists them.

The sub-command, the checkpoint's ``model_type`` and the checkpoint's file stem are the same word.
"""

from __future__ import annotations

import argparse
import importlib

from models.registry import BY_KEY, MODELS  # trainers are imported only for the chosen model


def build_parser(model: str | None = None) -> argparse.ArgumentParser:
    """The parser with one sub-command per model; only ``model``'s flags are added (all when None, none when
    ``model`` names no model)."""
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    sub = p.add_subparsers(dest="model", required=True, help="the model to train")
    for info in MODELS:
        sp = sub.add_parser(info.key, help=info.summary, description=f"Train {info.name}: {info.summary}.")
        if model in (None, info.key):
            importlib.import_module(info.trainer).add_arguments(sp, info.key)
    return p


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in BY_KEY else None
    args = build_parser(chosen or "").parse_args(argv)  # no model: usage and the list, without importing torch
    importlib.import_module(BY_KEY[args.model].trainer).run(args)


if __name__ == "__main__":
    main()
