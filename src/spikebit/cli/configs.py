"""``spikebit configs list|show NAME|copy NAME DIR``: the run configs shipped with spikebit."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``configs`` subcommand on the top-level parser's subparsers."""
    c = sub.add_parser(
        "configs",
        help="list, show or copy the run configs shipped with spikebit",
        description="The YAML run configs shipped with spikebit, named by their path "
        "without .yaml (e.g. demo, albsnn/fmnist-albsnn). `spikebit train NAME` accepts "
        "these names as well as paths.",
    )
    c.add_argument("action", choices=["list", "show", "copy"],
                   help="list: every name; show NAME: print it; copy NAME DIR: copy it")
    c.add_argument("name", nargs="?", help="a shipped config name, e.g. demo")
    c.add_argument("directory", nargs="?", help="target folder for `copy`")
    c.add_argument("--overwrite", action="store_true",
                   help="let `copy` replace an existing file of the same name")
    c.set_defaults(func=run_configs)


def run_configs(args: argparse.Namespace) -> int:
    """Run ``spikebit configs``; raises ConfigError for unknown names or a missing argument."""
    from spikebit.errors import ConfigError
    from spikebit.train.shipped import copy_config, shipped_config, shipped_configs

    if args.action == "list":
        for name in shipped_configs():
            print(name)
        return 0
    if not args.name:
        raise ConfigError(f"`spikebit configs {args.action}` needs a config NAME "
                          "(see `spikebit configs list`).")
    if args.action == "show":
        print(shipped_config(args.name).read_text(), end="")
        return 0
    if not args.directory:
        raise ConfigError("`spikebit configs copy NAME DIR` needs a target DIR.")
    print(copy_config(args.name, args.directory, overwrite=args.overwrite))
    return 0
