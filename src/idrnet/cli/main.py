"""The ``idrnet`` command line."""

from __future__ import annotations

import argparse
import errno
import re
import sys
from typing import Callable, Sequence

from . import bench, compare, convert, data, export, models, predict, relations, robustness, serve, test, train

# verb → module with ``add_arguments(parser)`` and ``run(args) -> int``; the modules import torch and
# the rest of idrnet only inside ``run``, so parsing and --help stay fast.
VERBS = {
    "bench": bench, "compare": compare, "convert": convert, "data": data, "export": export, "models": models,
    "predict": predict, "relations": relations, "robustness": robustness, "serve": serve, "test": test, "train": train,
}


class UserError(Exception):
    """A mistake in what the user asked for; reported without a traceback."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from ..engine.errors import TrainingError
    from ..errors import InputError
    from ..models.download import DownloadError
    from ..optional import MissingExtraError

    # InputError covers ConfigError, CheckpointError, BadSampleError and unknown names. Not ValueError or
    # KeyError as such: raised by idrnet's own code or a library, they are bugs to report.
    return (UserError, InputError, TrainingError, DownloadError, MissingExtraError, FileNotFoundError, FileExistsError,
            PermissionError, IsADirectoryError, NotADirectoryError)


# Failures of the machine, not of idrnet: a full disk, a read-only or forbidden folder.
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
# How each verb continues after the disk was freed (outputs are written atomically: none is half-written).
CONTINUE_HINTS = {"train": "run the same command with --resume to continue from the last checkpoint",
                  "predict": "run the same command with --skip-existing to continue where it stopped"}


def environment_failure(err: BaseException) -> OSError | None:
    """The full-disk / read-only / permission OSError behind ``err`` (its cause chain), if any."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in ENVIRONMENT_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def environment_message(failure: OSError, verb: str) -> str:
    """One line for a full disk or a folder that cannot be written, with how to go on."""
    where = f"{failure.filename}: " if failure.filename else ""
    text = failure.strerror or str(failure)
    if failure.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}{text} (the disk is full); free some space, then " + CONTINUE_HINTS.get(verb, "run the same command again")
    return f"{where}{text}"


# What to make smaller when memory runs out, by verb.
MEMORY_HINTS = {"train": "set max_batch_per_process (the same batch in smaller steps; --resume continues the run "
                         "with it), or lower batch_size or data.crop",
                "predict": "lower --max-pixels, or predict large images in tiles with --mode slide",
                "bench": "lower --size or --batch",
                "test": "evaluate at a smaller size (--set data.test_scale=[W,H])",
                "compare": "evaluate at a smaller size (--set data.test_scale=[W,H])",
                "robustness": "lower --batch-size, or evaluate at a smaller size (--set data.test_scale=[W,H])",
                "export": "trace at a smaller --example-size and --check-sizes"}


# What a collective reports when another process of the job died (gloo and NCCL wordings).
_PEER_LOST = ("Connection reset by peer", "Connection closed by peer", "connectFullMesh", "Broken pipe",
              "NCCL communicator was aborted", "remote process exited")


def lost_peer(err: BaseException) -> str | None:
    """The first line of ``err`` when it says another process of a multi-process job went away."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not isinstance(err, RuntimeError):
        return None
    text = str(err).strip()
    return text.splitlines()[0] if any(marker in text for marker in _PEER_LOST) else None


def summary(doc: str | None) -> str:
    """The first sentence of a docstring (it may run over several lines)."""
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb."""
    # No abbreviated flags: argparse would read --model as --model-b (serve) and --mod as --mode, silently.
    parser = argparse.ArgumentParser(prog="idrnet", description="IDRNet semantic segmentation toolbox", allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, module in VERBS.items():
        p = sub.add_parser(name, help=summary(module.__doc__), description=module.__doc__, allow_abbrev=False,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


# The library's messages name Python parameters as ``name=value``; on the command line they are flags.
PARAMETER_FLAGS = {"precision": "--precision", "backend": "--backend", "calibration": "--calibration",
                   "calibration_images": "--calibration-images", "max_pixels": "--max-pixels",
                   "out": "--out", "severities": "--severities", "resamples": "--resamples", "names": "--names",
                   "example_size": "--example-size", "opset": "--opset"}
# Boolean parameters named as set in a library message, and their flags.
SWITCH_FLAGS = {"overwrite=True": "--overwrite", "fixed_size=True": "--fixed-size"}
_PARAMETER = re.compile(r"(?<![\w-])(" + "|".join(sorted(PARAMETER_FLAGS, key=len, reverse=True)) + r")=")


def as_flags(message: str) -> str:
    """``precision=int8`` in a library message → ``--precision int8`` (the flag that sets it);
    ``overwrite=True`` → ``--overwrite``."""
    for switch, flag in SWITCH_FLAGS.items():
        message = message.replace(switch, flag)
    return _PARAMETER.sub(lambda m: PARAMETER_FLAGS[m.group(1)] + " ", message)


def one_line(err: BaseException) -> str:
    """An error's message, without the traceback text a DataLoader worker wraps around it, its
    parameters named as flags."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if "Original Traceback" in message:
        last = [line for line in message.splitlines() if line.strip()][-1].strip()
        head = last.split(": ", 1)[0]
        # "BadSampleError: …" or "idrnet.data.labels.BadSampleError: …": the message without the type
        message = last.split(": ", 1)[1] if ": " in last and all(p.isidentifier() for p in head.split(".")) else last
    return as_flags(message)


# Flags people write for "where to write" on the verbs that take their output as a positional argument.
_OUTPUT_FLAGS = ("--out", "--output", "-o", "--outdir", "--out-dir", "--output-dir", "--dst", "--dest")


def _deepest_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The parser of the verb (and of its action, for ``data synth``) named in ``argv``, so that an error
    names ``idrnet export`` and not ``idrnet``."""
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subcommands only there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            chosen = next((token for token in argv if token in action.choices), None)
            if chosen is not None:
                return _deepest_parser(action.choices[chosen], argv[argv.index(chosen) + 1:])
    return parser


def _unrecognized_hint(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """" (did you mean --checkpoint?)" for a misspelt flag; for an output flag on a verb whose output is a
    positional argument, where to put it."""
    import difflib

    flags = [f for action in parser._actions for f in action.option_strings]  # noqa: SLF001
    positionals = [action for action in parser._actions if not action.option_strings]  # noqa: SLF001
    for token in extras:
        name = token.split("=", 1)[0]
        if not name.startswith("-"):
            continue
        if name in ("--model", "-m") and "--model" not in flags:  # predict's flag, on a verb that takes it otherwise
            models = [a for a in positionals if "model" in a.dest or a.dest == "checkpoint"]
            if models:
                return f" ({parser.prog} takes the model as its {(models[0].metavar or models[0].dest).upper()} argument, without a flag)"
            if "--checkpoint" in flags:
                return f" ({parser.prog} takes the model as --checkpoint)"
        started = [f for f in flags if f.startswith(name) and name.startswith("--")]  # a shortened flag
        if started:
            return f" (did you mean {' or '.join(started[:4])}? flags are not shortened)"
        close = difflib.get_close_matches(name, flags, n=1, cutoff=0.75)
        if close:
            return f" (did you mean {close[0]}?)"
        if name in _OUTPUT_FLAGS:
            where = [a.metavar or a.dest for a in positionals if a.dest in ("output", "dst")]
            if where:
                return f" ({parser.prog} takes what it writes as its {where[0].upper()} argument, without a flag)"
    return ""


def repeated_flags(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """A note for each one-value flag given more than once with different values (``--model a --model b``):
    argparse keeps the last without a word, and whoever wrote both may have meant both."""
    argv = argv[:argv.index("--")] if "--" in argv else argv
    notes = []
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its actions only there
        if type(action) is not argparse._StoreAction or not action.option_strings:  # noqa: SLF001
            continue
        given: list[str] = []
        for i, token in enumerate(argv):
            name, equals, value = token.partition("=")
            if (name if token.startswith("--") else token) not in action.option_strings:
                continue
            if equals:
                given.append(value)
            elif isinstance(action.nargs, int):  # --crop H W
                given.append(" ".join(argv[i + 1:i + 1 + action.nargs]))
            elif action.nargs in ("+", "*"):
                following = argv[i + 1:]
                stop = next((k for k, t in enumerate(following) if t.startswith("-") and len(t) > 1), len(following))
                given.append(" ".join(following[:stop]))
            else:
                given.append(argv[i + 1] if i + 1 < len(argv) else "")
        if len(set(given)) > 1:
            notes.append(_last_is_used(action.option_strings[0], given))
    return notes


def _last_is_used(name: str, given: list[str]) -> str:
    """``NAME given twice (a, then b): only the last is used``."""
    times = "twice" if len(given) == 2 else f"{len(given)} times"
    return f"{name} given {times} ({', then '.join(given)}): only the last is used"


def repeated_settings(overrides: list[str]) -> list[str]:
    """A note for each ``--set`` key given more than once with different values (the last is used)."""
    values: dict[str, list[str]] = {}
    for item in overrides:
        key, equals, value = item.partition("=")
        if equals and key.strip():
            values.setdefault(key.strip(), []).append(value.strip())
    return [_last_is_used(f"--set {key}", given) for key, given in values.items() if len(set(given)) > 1]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn user mistakes into a one-line error and exit code 2."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    verb_parser = _deepest_parser(parser, list(sys.argv[1:] if argv is None else argv))
    if extras:
        verb_parser.error(f"unrecognized arguments: {' '.join(extras)}{_unrecognized_hint(verb_parser, extras)}")
    prog = verb_parser.prog  # "idrnet test", "idrnet data check": who speaks in the messages below
    for note in repeated_flags(verb_parser, list(sys.argv[1:] if argv is None else argv)) + \
            repeated_settings(getattr(args, "overrides", None) or []):
        print(f"{prog}: warning: {note}", file=sys.stderr)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt as err:
        print(f"idrnet: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 128 + getattr(err, "signum", 2)  # 130 for Ctrl-C, 143 for SIGTERM
    except Exception as err:
        if args.debug:
            raise
        if isinstance(err, _user_error_types()):
            print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
            return 2
        if isinstance(err, RuntimeError) and "DataLoader worker" in str(err) and "killed by signal" in str(err):
            print(f"{prog}: error: {str(err).splitlines()[0].strip()} (the system stops a process this "
                  "way when memory runs out): lower batch_size, the crop or image size, or data.num_workers"
                  + ("; --resume continues from the last checkpoint" if args.verb == "train" else ""), file=sys.stderr)
            return 1
        from ..errors import out_of_memory

        asked = out_of_memory(err)
        if asked is not None:
            print(f"{prog}: error: out of memory{f' (an allocation of {asked} failed)' if asked else ''}: "
                  + MEMORY_HINTS.get(args.verb, "free memory, or run it on a machine with more"), file=sys.stderr)
            return 1
        peer = lost_peer(err)
        if peer is not None:
            print(f"{prog}: error: lost another process of the job ({peer[:200]}); torchrun restarts "
                  "the group when --max-restarts allows, and --resume auto continues from latest.pt", file=sys.stderr)
            return 1
        failure = environment_failure(err)
        if failure is None:
            import traceback

            traceback.print_exc()
            print(f"{prog}: internal error: {type(err).__name__}: {one_line(err)}\n"
                  "This is a bug in idrnet, not a mistake in what you asked for: please report it with the "
                  "traceback above and the command you ran.", file=sys.stderr)
            return 1
        print(f"{prog}: error: {environment_message(failure, args.verb)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
