"""The `pix2gan` command: list, train, evaluate, sample, translate, make-judge, serve, report.

The flags of ``train``, ``evaluate`` and ``sample`` are generated from the typed settings of each
zoo recipe (:mod:`pix2gan.settings`): ``--l1-weight`` is the setting ``l1_weight``, with its type,
default and help. Errors from the library name the Python argument; here they name the flag.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys

import cv2

from .allocator import tune_allocator
from .classifier import CLASSIFIER_PATH, EUROSAT_CLASSIFIER_PATH, EUROSAT_EPOCHS, judge_path, make_eurosat_judge, make_judge
from .data.eurosat import DEFAULT_DIR as DEFAULT_EUROSAT_DIR
from .data.mnist import DEFAULT_DIR as DEFAULT_MNIST_DIR
from .data.mnist import SYNTHETIC, resolve_mnist
from .errors import Pix2GanError
from .evaluation import translate_folder, translate_tiled
from .precision import PRECISIONS
from .report import write_comparison, write_report
from .sequence import predict_frames
from .serve import HOST, MAX_MEGAPIXELS, MAX_UPLOAD_MB, PORT, serve
from .settings import Spec, specs
from .zoo import get, names, recipe_class
from .zoo.recipe import RunOptions


class _ConsoleHandler(logging.Handler):
    """Library progress to stdout, notes and warnings to stderr (looked up at each message, so
    redirected streams are honoured)."""

    def emit(self, record):
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        stream.write(self.format(record) + "\n")
        stream.flush()


def _configure_logging() -> None:
    # pix2gan names every undecodable file itself; OpenCV's own log lines would only precede that error
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    logger = logging.getLogger("pix2gan")
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


class _EntryParser(argparse.ArgumentParser):
    """Flag errors as one-line ``error: ...`` messages (exit status 2), like every other bad input."""

    def error(self, message):
        raise Pix2GanError(message)


def _parse_bool(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")


def _add_setting(parser: argparse.ArgumentParser, spec: Spec) -> None:
    """One flag for one setting; only flags given on the command line reach the namespace, so the
    recipe's own defaults apply to the rest."""
    default = "none" if spec.default is None else (" ".join(map(str, spec.default)) if isinstance(spec.default, tuple)
                                                   else spec.default)
    text = f"{spec.help} ({spec.describe_type()}; default {default})"
    if spec.kind is bool:
        group = parser.add_mutually_exclusive_group()
        group.add_argument(spec.flag, dest=spec.name, action="store_const", const=True, default=argparse.SUPPRESS,
                           help=text)
        negative = spec.negative or "--no-" + spec.flag[2:]
        group.add_argument(negative, dest=spec.name, action="store_const", const=False, default=argparse.SUPPRESS,
                           help=f"the opposite of {spec.flag}")
        return
    kind = spec.item if spec.kind is tuple else spec.kind
    parser.add_argument(spec.flag, dest=spec.name, type=_parse_bool if kind is bool else kind,
                        nargs="+" if spec.kind is tuple else None, choices=spec.choices, default=argparse.SUPPRESS,
                        metavar=None if spec.choices else spec.name.upper(), help=text)


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
                        "input size). INPUT_DIR may then be a single image or raster (GeoTIFF, COG, JP2, "
                        "...), read and written window by window, keeping its georeference and nodata")
    t.add_argument("--overlap", type=int, help="tile overlap in pixels (default a quarter of the tile)")
    t.add_argument("--scale", "--max-value", dest="scale", type=float,
                   help="with --tile: value of full scale of the input (default 255 / 65535 / 1.0 by dtype; e.g. "
                        "10000 for Sentinel-2 L2A reflectance)")
    t.add_argument("--bands", help="with --tile: the bands to feed, by description or 1-based number, e.g. B4,B3,B2 "
                                   "(default: B4,B3,B2 where the bands are so named, else the first bands)")
    t.add_argument("--cog", action="store_true", help="with --tile: write Cloud-Optimised GeoTIFFs (.tif)")
    t.add_argument("--batch-size", type=int, default=8,
                   help="images (or tiles) per model call (default 8; with --mode paper, 1 treats each image alone)")
    t.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="float32 (default), mixed_bfloat16 (CPUs with AVX512_BF16/AMX), mixed_float16 (GPUs) or auto "
                        "(the fastest this machine runs natively); mixed outputs differ by about 1e-2 of full scale")
    j = sub.add_parser("make-judge", help="train the judge that evaluate uses for FID-style scores: MNIST (once, ~1 min) "
                                          "or EuroSAT (once, a few minutes)")
    j.add_argument("--dataset", choices=("mnist", "eurosat"), default="mnist",
                   help="which judge: mnist (default; MNIST-FID) or eurosat (Frechet distance of 64x64 RGB tiles)")
    j.add_argument("--data-dir", help=f"MNIST idx files, mnist.npz or .h5 (default {DEFAULT_MNIST_DIR}); for "
                                      f"eurosat the folder holding AnnualCrop/ Forest/ ... (default {DEFAULT_EUROSAT_DIR})")
    j.add_argument("--synthetic", action="store_true", help="MNIST only: judge the built-in synthetic digits instead")
    j.add_argument("--output", help=f"where to write it (default {CLASSIFIER_PATH}, or {EUROSAT_CLASSIFIER_PATH})")
    j.add_argument("--epochs", type=int, help=f"training epochs (default 2 for mnist, {EUROSAT_EPOCHS} for eurosat)")
    v = sub.add_parser("serve", help="a local web page to try a saved generator (needs pip install 'pix2gan[serve]')")
    v.add_argument("--model", required=True, help="saved generator (.h5 or .keras): image-to-image or noise -> image")
    v.add_argument("--port", type=int, default=PORT, help=f"port (default {PORT})")
    v.add_argument("--host", default=HOST, help=f"address to listen on (default {HOST}: this machine only)")
    v.add_argument("--tile", type=int, metavar="SIZE", help="tile size for models of any input size (default 512)")
    v.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
                   help=f"largest upload in MB (default {MAX_UPLOAD_MB:g})")
    v.add_argument("--max-megapixels", type=float, default=MAX_MEGAPIXELS,
                   help=f"largest image in megapixels (default {MAX_MEGAPIXELS:g})")
    v.add_argument("--eurosat-dir", help="EuroSAT folder (AnnualCrop/ ... River/) whose tiles the page's cloudy "
                                         f"examples are made from (default {DEFAULT_EUROSAT_DIR} if it is there, "
                                         "else built-in synthetic tiles)")
    r = sub.add_parser("report", help="write a run's HTML report (RUN_DIR/report.html), or compare runs")
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a run's log folder (logs/<run name>)")
    r.add_argument("--compare", action="store_true", help="one page with the curves and final metrics of every RUN_DIR")
    r.add_argument("--card", help="the run's model card (default: found from the run; see pix2gan.report)")
    r.add_argument("--output", help="with --compare: the page to write (default compare.html beside the runs)")
    f = sub.add_parser("predict-frames", help="predict the frames that follow a folder of frames (sequence-unet)")
    f.add_argument("--model", required=True, help="saved frame predictor (<run>_generator.h5 of sequence-unet)")
    f.add_argument("frames_dir", help="folder of ordered frames (natural order of names)")
    f.add_argument("out_dir", help="where predicted_001.png ..., strip.png and sequence.gif go")
    f.add_argument("--channels", type=int, help="channels per frame (default: the first frame's, 1 grey or 3 RGB)")
    f.add_argument("--start", type=int, help="index (0-based) of the first input frame (default: the last frames)")
    f.add_argument("--resize", action="store_true", help="resize frames to the model's size and predictions back")
    return parser


def _report(args) -> int:
    if args.compare:
        if args.card:
            raise Pix2GanError("--card names one run's card: drop it with --compare (each run's card is found "
                               "from its folder)")
        print(f"wrote {write_comparison(args.run_dirs, args.output)}")
        return 0
    if len(args.run_dirs) > 1:
        raise Pix2GanError(f"pix2gan report takes one RUN_DIR, got {len(args.run_dirs)}: add --compare to put "
                           "several side by side")
    if args.output:
        raise Pix2GanError("--output applies to --compare: a run's report is always RUN_DIR/report.html")
    print(f"wrote {write_report(args.run_dirs[0], args.card)}")
    return 0


def _make_judge(args) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise Pix2GanError(f"--epochs {args.epochs} must be at least 1")
    if args.dataset == "eurosat":
        if args.synthetic:
            raise Pix2GanError("--synthetic makes the MNIST judge of synthetic digits: the EuroSAT judge is trained "
                               "on the real tiles only (pass --data-dir)")
        path = make_eurosat_judge(args.data_dir or DEFAULT_EUROSAT_DIR, args.output or EUROSAT_CLASSIFIER_PATH,
                                  args.epochs or EUROSAT_EPOCHS)
        print(f"wrote the EuroSAT judge to {path}")
        return 0
    source = SYNTHETIC if args.synthetic else resolve_mnist(args.data_dir or DEFAULT_MNIST_DIR)
    path = make_judge(source, args.output or judge_path(source), args.epochs or 2)
    print(f"wrote the MNIST judge to {path}")
    return 0


def entry_parser(command: str, entry: str) -> tuple[argparse.ArgumentParser, dict[str, list[str]], dict[str, str]]:
    """The parser of ``pix2gan COMMAND ENTRY``; which destinations are recipe settings ('recipe'),
    run options ('run'), entry options ('options') or the command's own ('command'); and the flag
    of each setting."""
    cls = recipe_class(entry)
    parser = _EntryParser(prog=f"pix2gan {command} {entry}", description=cls.summary)
    groups: dict[str, list[str]] = {"recipe": [], "run": [], "options": [], "command": []}
    if command == "train":
        sections = (("run", "run", specs(RunOptions)), ("recipe", "recipe settings", specs(cls)),
                    ("options", "data and measurement options", specs(cls.Options, "train")))
    elif command == "evaluate":
        parser.add_argument("--weights", required=True, help="saved generator (.h5 or .keras)")
        parser.add_argument("--data-dir", dest="data_dir", help="folder with the data set (default: datasets/<data "
                                                                "set>, else the built-in synthetic set)")
        parser.add_argument("--split", default="test", choices=cls.splits, help="split to score (default test)")
        parser.add_argument("--seed", type=int, default=0, help="split / noise seed (default 0)")
        groups["command"] += ["weights", "data_dir", "split", "seed"]
        sections = (("recipe", "settings that change the evaluation", specs(cls, "evaluate")),
                    ("options", "data options", specs(cls.Options, "evaluate")))
    else:
        parser.add_argument("--weights", required=True, help="saved generator (.h5 or .keras)")
        parser.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
        parser.add_argument("--label", type=int, help="label to draw (conditional generators; default: all in turn)")
        parser.add_argument("--ncols", type=int, help="grid columns (default 8, or 10 for label rows)")
        parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
        parser.add_argument("--output", help="PNG to write (default: next to the weights, <stem>_samples.png)")
        groups["command"] += ["weights", "n", "label", "ncols", "seed", "output"]
        sections = ()
    flags = {name: "--" + name.replace("_", "-") for name in groups["command"]}
    for group, title, group_specs in sections:
        section = parser.add_argument_group(title)
        for spec in group_specs:
            _add_setting(section, spec)
            groups[group].append(spec.name)
            flags[spec.name] = spec.flag
    return parser, groups, flags


def _explain(exc: Pix2GanError, command: str | None, entry: str | None) -> str:
    """The error message with the Python argument it names replaced by its flag."""
    message = str(exc)
    if exc.argument and command in ("train", "evaluate", "sample") and entry in names():
        flag = entry_parser(command, entry)[2].get(exc.argument)
        if flag:
            message = re.sub(rf"(?<![\w-]){re.escape(exc.argument)}=", flag + " ", message)
            message = re.sub(rf"(?<![\w-]){re.escape(exc.argument)}(?![\w=])", flag, message)
    return message


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, rest = _parser().parse_known_args(argv)
    _configure_logging()
    tune_allocator()  # before the first big tensor: freed blocks then stay in the heap (pix2gan.allocator)
    entry = getattr(args, "entry", None)
    try:
        if args.command == "list":
            for name in names():
                print(f"{name:28s} {recipe_class(name).summary}")
            return 0
        if args.command in ("translate", "make-judge") and rest:
            raise Pix2GanError(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "make-judge":
            return _make_judge(args)
        if args.command == "translate":
            if args.tile is not None and args.tile < 0:
                raise Pix2GanError(f"--tile {args.tile} must be a positive tile size (or 0: the model's input size)")
            if args.overlap is not None and args.tile is None:
                raise Pix2GanError("--overlap applies to tiled translation only: add --tile SIZE (0: the model's size)")
            if args.scale is not None and not args.scale > 0:
                raise Pix2GanError(f"--scale {args.scale} must be a positive value of full scale")
            tiled_only = [f for f, v in (("--scale", args.scale), ("--bands", args.bands), ("--cog", args.cog)) if v]
            if tiled_only and args.tile is None:
                raise Pix2GanError(f"{tiled_only[0]} applies to tiled translation only: add --tile SIZE (0: the "
                                   "model's size)")
            if args.tile is not None:
                written = translate_tiled(args.model, args.input_dir, args.output_dir, args.tile or None,
                                          args.overlap, args.scale, bands=args.bands, cog=args.cog,
                                          batch_size=args.batch_size, precision=args.precision)
            else:
                written = translate_folder(args.model, args.input_dir, args.output_dir, args.mode, args.resize,
                                           batch_size=args.batch_size, precision=args.precision)
            print(f"wrote {len(written)} images to {args.output_dir}")
            return 0
        if args.command in ("serve", "report") and rest:
            raise Pix2GanError(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "serve":
            serve(args.model, args.host, args.port, tile=args.tile, max_upload_mb=args.max_upload_mb,
                  max_megapixels=args.max_megapixels, eurosat_dir=args.eurosat_dir)
            return 0
        if args.command == "report":
            return _report(args)
        if args.command == "predict-frames":
            if rest:
                raise Pix2GanError(f"unrecognized arguments: {' '.join(rest)}")
            found = predict_frames(args.model, args.frames_dir, args.out_dir, args.channels, args.start, args.resize)
            print(f"wrote {len(found['frames'])} predicted frames, strip.png and sequence.gif to {args.out_dir}")
            return 0
        return _run_entry(args.command, entry, args.help, rest)
    except Pix2GanError as exc:
        print(f"error: {_explain(exc, args.command, entry)}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # a diverged run: reported, nothing saved
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the machine's side (disk full, permissions): one line, not a traceback
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error:{where} {exc.strerror or exc}: check free space and permissions", file=sys.stderr)
        return 1


def _run_entry(command: str, entry: str | None, want_help: bool, rest: list[str]) -> int:
    if not entry:
        print(f"usage: pix2gan {command} ENTRY [flags]; entries: {', '.join(names())}")
        return 0 if want_help else 2
    parser, groups, _ = entry_parser(command, entry)
    if want_help:
        parser.print_help()
        return 0
    values = vars(parser.parse_args(rest))
    pick = {group: {k: values[k] for k in keys if k in values} for group, keys in groups.items()}
    recipe = get(entry, **pick["recipe"])
    if command == "train":
        recipe.train(**pick["run"], **pick["options"])
    elif command == "evaluate":
        scores = recipe.evaluate(**pick["command"], **pick["options"])
        print(recipe.report(scores))
    else:
        recipe.sample(**pick["command"])
    return 0


def run_entry_command(command: str, entry: str, argv: list[str] | None = None) -> int:
    """What the example scripts call: ``pix2gan <command> <entry> <argv>``."""
    return main([command, entry] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
