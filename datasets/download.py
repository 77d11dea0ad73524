"""Download a data set into datasets/ (needs internet) and verify it.

    python datasets/download.py facades [--archive-sha256 HEX]
    python datasets/download.py eurosat [--archive-sha256 HEX]
    python datasets/download.py mnist
    python datasets/download.py facades-h5 --data-dir datasets/facades   # export the book's .h5 layout

Every loader also takes a local copy with --data-dir, so this script is only for machines online.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pix2gan.errors import Pix2GanError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("facades", "eurosat", "mnist", "facades-h5"))
    parser.add_argument("--dest", default=os.path.dirname(os.path.abspath(__file__)), help="where data lands")
    parser.add_argument("--archive-sha256", help="expected sha256 of the downloaded archive")
    parser.add_argument("--data-dir", help="facades-h5: the pix2pix-format Facades folder to export")
    args = parser.parse_args()
    try:
        if args.dataset == "facades":
            from pix2gan.data.facades import download_facades
            path = download_facades(args.dest, args.archive_sha256)
        elif args.dataset == "eurosat":
            from pix2gan.data.eurosat import download_eurosat
            path = download_eurosat(args.dest, args.archive_sha256)
        elif args.dataset == "mnist":
            from pix2gan.data.mnist import download_mnist_npz
            path = download_mnist_npz(args.dest)
        else:
            from pix2gan.data.facades import write_facades_h5
            if not args.data_dir:
                raise Pix2GanError("facades-h5 needs --data-dir pointing at a pix2pix-format Facades folder")
            path = write_facades_h5(args.data_dir, os.path.join(args.dest, "facades.h5"))
    except Pix2GanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
