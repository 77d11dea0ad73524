"""The `pix2gan` command: list, train, evaluate, translate (and sample, for entries that have it)."""
from __future__ import annotations

import argparse
import sys



def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pix2gan", description="Keras 3 GAN zoo for image translation and generation.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the zoo entries")
    for name, text in (("train", "train a zoo entry"), ("evaluate", "score saved weights of a zoo entry"),
                       ("sample", "write a grid of generated samples")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("entry", nargs="?", help="zoo entry (see `pix2gan list`)")
        p.add_argument("-h", "--help", action="store_true")
    t = sub.add_parser("translate", help="run a saved generator over a folder of images")
    t.add_argument("--model", required=True, help="saved generator (.h5 or .keras)")
    t.add_argument("input_dir")
    t.add_argument("output_dir")
    t.add_argument("--mode", choices=("paper", "inference"), default="inference",
                   help="inference (default: training=False) or paper (dropout + batch statistics)")
    t.add_argument("--resize", action="store_true", help="resize images to the model's size and back")
    t.add_argument("--tile", type=int, metavar="SIZE",
                   help="any-size images (e.g. cloud removal on whole scenes): run the model over overlapping "
                        "SIZE x SIZE tiles with seamless blending, keeping size and dtype (0: the model's "
                        "input size). INPUT_DIR may then be a single image")
    t.add_argument("--overlap", type=int, help="tile overlap in pixels (default a quarter of the tile)")
    t.add_argument("--max-value", type=float, help="value of full scale for 16-bit input (default 65535; "
                                                   "e.g. 10000 for Sentinel-2 reflectance)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import Pix2GanError
    argv = sys.argv[1:] if argv is None else argv
    args, rest = _parser().parse_known_args(argv)
    try:
        if args.command == "list":
            from .zoo import list_entries
            for entry in list_entries():
                print(f"{entry.name:28s} {entry.summary}")
            return 0
        if args.command == "translate":
            if rest:
                _parser().error(f"unrecognized arguments: {' '.join(rest)}")
            from .evaluation import translate_folder, translate_tiled
            if args.tile is not None:
                written = translate_tiled(args.model, args.input_dir, args.output_dir, args.tile or None,
                                          args.overlap, args.max_value)
            else:
                written = translate_folder(args.model, args.input_dir, args.output_dir, args.mode, args.resize)
            print(f"wrote {len(written)} images to {args.output_dir}")
            return 0
        return _run_entry(args, rest)
    except Pix2GanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # a diverged run: reported, nothing saved
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run_entry(args, rest) -> int:
    from .zoo import get_entry, list_entries
    if not args.entry:
        print(f"usage: pix2gan {args.command} ENTRY [flags]; entries: {', '.join(e.name for e in list_entries())}")
        return 0 if args.help else 2
    entry = get_entry(args.entry)
    add_args, run = {"train": (entry.add_train_args, entry.train),
                     "evaluate": (entry.add_eval_args, entry.evaluate),
                     "sample": (entry.add_sample_args, entry.sample)}[args.command]
    if run is None:
        from .errors import Pix2GanError
        raise Pix2GanError(f"zoo entry {entry.name} has no {args.command} command")
    parser = argparse.ArgumentParser(prog=f"pix2gan {args.command} {entry.name}", description=entry.summary)
    add_args(parser)
    if args.help:
        parser.print_help()
        return 0
    run(parser.parse_args(rest))
    return 0


def run_entry_command(command: str, entry: str, argv: list[str] | None = None) -> int:
    """What the example scripts call: ``pix2gan <command> <entry> <argv>``."""
    return main([command, entry] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
