"""One entry point for every model: ``python -m training.train <model> [flags]``.

Models: numpy_mlp, torch_mlp, cnn (MNIST digits), pet_cnn (cats vs dogs). ``<model> --help`` lists flags.
"""

from __future__ import annotations

import sys

MODELS = ("numpy_mlp", "torch_mlp", "cnn", "pet_cnn")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in MODELS:
        print(__doc__.strip(), file=sys.stderr)
        print(f"\nusage: python -m training.train {{{','.join(MODELS)}}} [flags]", file=sys.stderr)
        raise SystemExit(0 if argv[:1] in (["-h"], ["--help"]) else 2)
    model, rest = argv[0], argv[1:]
    if model == "numpy_mlp":
        from training.train_numpy_mlp import main as run

        run(rest)
    elif model == "pet_cnn":
        from training.train_pets import main as run

        run(rest)
    else:
        from training.train_digits_torch import main as run_torch

        run_torch(model, rest)


if __name__ == "__main__":
    main()
