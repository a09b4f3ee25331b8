"""The ``idrnet`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from . import bench, compare, convert, data, export, models, predict, relations, test, train

# verb → module with ``add_arguments(parser)`` and ``run(args) -> int``
VERBS = {
    "bench": bench, "compare": compare, "convert": convert, "export": export, "data": data, "models": models, "predict": predict, "relations": relations, "test": test, "train": train,
}


class UserError(Exception):
    """A mistake in what the user asked for; reported without a traceback."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from ..config import ConfigError
    from ..models.checkpoint import CheckpointError

    from ..data.labels import BadSampleError
    from ..engine.trainer import TrainingError

    return (UserError, ConfigError, CheckpointError, BadSampleError, TrainingError, FileNotFoundError, KeyError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb."""
    parser = argparse.ArgumentParser(prog="idrnet", description="IDRNet semantic segmentation toolbox")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, module in VERBS.items():
        p = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn user mistakes into a one-line error and exit code 2."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt as err:
        print(f"idrnet: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 130
    except _user_error_types() as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"idrnet {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
