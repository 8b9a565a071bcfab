"""One entry point for every model: ``python -m training.train <model> [flags]``; ``<model> --help`` lists them.

The sub-command, the checkpoint's ``model_type`` and the checkpoint's file stem are the same word.
"""

from __future__ import annotations

import argparse
import importlib

# model -> (module that trains it, one line for --help). Modules are imported only for the chosen model.
MODELS = {
    "numpy_mlp": ("training.train_numpy_mlp", "the from-scratch NumPy MLP on MNIST (hand-written backprop)"),
    "torch_mlp": ("training.train_digits_torch", "the same MLP in PyTorch on MNIST"),
    "digit_cnn": ("training.train_digits_torch", "the convolutional network on MNIST"),
    "pet_cnn": ("training.train_pets", "the cats-vs-dogs convolutional network"),
}


def build_parser(model: str | None = None) -> argparse.ArgumentParser:
    """The parser with one sub-command per model; only ``model``'s flags are added (all when None, none when
    ``model`` names no model)."""
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    sub = p.add_subparsers(dest="model", required=True, help="the model to train")
    for name, (module, summary) in MODELS.items():
        sp = sub.add_parser(name, help=summary, description=f"Train {summary}.")
        if model in (None, name):
            importlib.import_module(module).add_arguments(sp, name)
    return p


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in MODELS else None
    args = build_parser(chosen or "").parse_args(argv)  # no model: usage and the list, without importing torch
    importlib.import_module(MODELS[args.model][0]).run(args)


if __name__ == "__main__":
    main()
