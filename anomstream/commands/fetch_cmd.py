"""`anomstream fetch DATASET`: download a public dataset into the data root, ready to load."""

from __future__ import annotations

import argparse
import functools
from typing import Any

from pydantic import ValidationError

from anomstream.commands.dataset_options import add_data_dir_argument, data_dir
from anomstream.errors import CliError, settings_error
from producers.datasets import LOADERS
from producers.fetch import FetchError, FetchSettings, fetch


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download a public dataset into the data root",
        description="Downloads SKAB, SMD, SMAP or MSL from their canonical addresses, "
        "resuming an interrupted download, and unpacks it where its loader looks. "
        "SWaT, WADI and DAMADICS are given out on request by their owners: fetch prints where "
        "to ask and where to put the files, and exits 0, as it does for a dataset already "
        "present; `anomstream datasets --json` tells scripts whether the data is there. "
        "synthetic and csv need no fetch.",
    )
    parser.add_argument(
        "dataset", choices=list(LOADERS), metavar="DATASET", help=", ".join(LOADERS)
    )
    add_data_dir_argument(parser)
    parser.add_argument(
        "--force", action="store_true", help="download and unpack again even if present"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none off a terminal anyway)"
    )
    parser.add_argument(
        "--mirror",
        default=None,
        help="base URL that serves every file under its own name (env ANOMSTREAM_FETCH_MIRROR)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = FetchSettings()
    except ValidationError as exc:
        raise settings_error(exc, "ANOMSTREAM_FETCH_") from None
    root = data_dir(args)
    try:
        fetch(
            args.dataset,
            root,
            force=args.force,
            progress=False if args.no_progress else None,
            mirror=args.mirror or settings.mirror,
            timeout_s=settings.timeout_s,
            # Flushed so each note is out before the progress bar on stderr starts drawing.
            say=functools.partial(print, flush=True),
        )
    except FetchError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # the data root itself: not writable, disk full
        raise CliError(f"cannot write under {root}: {exc}") from None
    return 0
