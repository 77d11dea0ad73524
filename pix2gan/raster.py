"""Scenes in and out window by window: GeoTIFF, COG, JP2 and every raster GDAL opens (through
rasterio), PNG / JPEG / BMP / GIF (through :mod:`pix2gan.imaging`), ``.npy`` files and arrays.

:func:`open_scene` picks the bands a model takes and gives them as row windows ``(rows, W, C)`` in
their own dtype, with a validity mask where the scene has a nodata value, a mask band, an alpha
band or NaN pixels (float rasters). Band choice: ``bands`` names them by description ("B4") or by
1-based number; by default the Sentinel-2 order B4, B3, B2 when the descriptions hold those names,
else the first bands. Rasters are never read whole.

:func:`open_sink` writes the result rows: a ``.tif`` through rasterio as a tiled GeoTIFF with the
input's CRS, transform, nodata value (or mask), band descriptions, dtype and compression, or as a
Cloud-Optimised GeoTIFF (``cog=True``: the tiled file is copied with GDAL's COG driver, which adds
overviews); a ``.npy`` as a memory-mapped array; PNG / JPEG in memory, encoded at the end (those
formats have no windowed writer). Every file is written under a hidden temporary name and renamed
into place when complete.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from typing import Sequence

import numpy as np
import rasterio
import rasterio.env
import rasterio.shutil
from rasterio._err import CPLE_BaseError  # GDAL errors rasterio raises unwrapped (it has no public alias)
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from .errors import Pix2GanError
from .imaging import check_output_file, image_format, read_image, write_image
from .saving import fsync_path

# GDAL reports recoverable oddities through rasterio's logger; unconfigured, Python's last-resort
# handler would print them before pix2gan's own one-line error. Applications that configure
# logging still see them (the records propagate).
logging.getLogger("rasterio").addHandler(logging.NullHandler())

GDAL_CACHE_MB = 128  # GDAL's block cache during tiled inference (its default, 5% of RAM, fills with the scene)
SENTINEL2_RGB = ("B4", "B3", "B2")
DECODED_FORMATS = ("jpeg", "png", "bmp", "gif")  # read with pix2gan.imaging, the pipelines' decoders
RASTER_OUTPUTS = (".tif", ".tiff")  # written through rasterio


def output_extension(path: str, cog: bool = False) -> str:
    """The extension a tiled result of the scene ``path`` is written with: ``.tif`` for rasters
    other than TIFF (JP2, ...) and for ``cog``; PNG for JPEG / BMP (lossless); PNG, TIFF and
    ``.npy`` keep theirs."""
    ext = os.path.splitext(path)[1].lower()
    if cog or ext not in (".png", ".npy", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"):
        return ".tif"
    return ".png" if ext in (".jpg", ".jpeg", ".bmp") else ext
BLOCK = 256  # GeoTIFF tile side
# GTiff codecs rasterio's GDAL writes; an input compressed otherwise (e.g. JPEG 2000) is written DEFLATE
_GTIFF_CODECS = {"deflate", "lzw", "zstd", "packbits", "lzma", "lerc", "lerc_deflate", "lerc_zstd", "jpeg", "webp"}
_GDAL_ERRORS = (RasterioError, CPLE_BaseError)


def _gdal_text(exc: BaseException) -> str:
    """GDAL's own words: rasterio chains them below a generic 'Read failed' error."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def bounded_cache():
    """A ``rasterio.Env`` capping GDAL's block cache at :data:`GDAL_CACHE_MB`, so memory does not grow
    with the scene; a ``GDAL_CACHEMAX`` the user set (environment or an outer ``rasterio.Env``) wins."""
    if "GDAL_CACHEMAX" in os.environ or (rasterio.env.hasenv() and "GDAL_CACHEMAX" in rasterio.env.getenv()):
        return contextlib.nullcontext()
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20)


def parse_bands(bands: str | Sequence[str | int] | None) -> tuple[str | int, ...] | None:
    """``"B4,B3,B2"`` / ``"4,3,2"`` / ``["B4", 3, "2"]`` -> ``("B4", 3, 2)``: names stay text, numbers
    become 1-based band numbers."""
    if bands is None:
        return None
    items = bands.split(",") if isinstance(bands, str) else list(bands)
    parsed = []
    for item in items:
        text = str(item).strip()
        if not text:
            raise Pix2GanError(f"bands {bands!r} holds an empty name: pass names or numbers separated by commas, "
                               "e.g. B4,B3,B2", argument="bands")
        parsed.append(int(text) if text.isdigit() else text)
    return tuple(parsed)


def _band_key(name: str | None) -> str | None:
    """Band names compared without case and leading zeros: 'b04' and 'B4' are one band."""
    if not name:
        return None
    key = name.strip().upper()
    match = re.fullmatch(r"B0*(\d+A?)", key)
    return "B" + match.group(1) if match else key


def describe_bands(descriptions: Sequence[str | None]) -> str:
    """'3 bands: 1 B4, 2 B3, 3 B2' (numbers alone where a band has no name)."""
    names = [f"{i} {d}" if d else str(i) for i, d in enumerate(descriptions, 1)]
    return f"{len(names)} band{'s' if len(names) != 1 else ''}: {', '.join(names)}"


def pick_bands(descriptions: Sequence[str | None], bands, channels: int, name: str) -> list[int]:
    """0-based indexes of the ``channels`` bands to feed, from ``bands`` (see :func:`parse_bands`) or
    the default (B4, B3, B2 when named so and ``channels`` is 3, else the first bands)."""
    count = len(descriptions)
    wanted = parse_bands(bands)
    if wanted is None:
        keys = [_band_key(d) for d in descriptions]
        if channels == 3 and all(b in keys for b in SENTINEL2_RGB):
            return [keys.index(b) for b in SENTINEL2_RGB]
        if count < channels:
            raise Pix2GanError(f"image {name} has {describe_bands(descriptions)}, but the model takes {channels}: "
                               f"pass a scene with at least {channels} bands")
        return list(range(channels))
    if len(wanted) != channels:
        raise Pix2GanError(f"bands {','.join(map(str, wanted))} names {len(wanted)} band(s) but the model takes "
                           f"{channels}: name {channels} of {name}'s {describe_bands(descriptions)}", argument="bands")
    keys = [_band_key(d) for d in descriptions]
    picked = []
    for item in wanted:
        if isinstance(item, int) and 1 <= item <= count:
            picked.append(item - 1)
        elif isinstance(item, str) and _band_key(item) in keys:
            picked.append(keys.index(_band_key(item)))
        else:
            raise Pix2GanError(f"image {name} has no band {item}: it has {describe_bands(descriptions)}; pass "
                               "names or numbers from these", argument="bands")
    return picked


def default_scale(dtype: np.dtype, name: str, scale: float | None = None) -> float:
    """The value of full scale: ``scale`` if given, else 255 (8-bit), 65535 (16-bit) or 1 (float)."""
    if scale is not None:
        if not (np.isfinite(scale) and scale > 0):
            raise Pix2GanError(f"scale {scale} must be a positive value of full scale (e.g. 10000 for "
                               "Sentinel-2 L2A reflectance)", argument="scale")
        return float(scale)
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == "f":
        return 1.0
    raise Pix2GanError(f"image {name} has dtype {dtype}: use 8-bit, 16-bit or float images, or pass scale "
                       "(--scale), the value of full scale")


def fits(value: float, dtype: np.dtype) -> bool:
    """Whether ``dtype`` holds ``value`` exactly (NaN fits floats only)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui":
        return dtype.kind == "f"
    info = np.iinfo(dtype)
    return bool(np.isfinite(value)) and float(value).is_integer() and info.min <= value <= info.max


def _invalid_fill(dtype: np.dtype, nodata: float | None):
    """What invalid pixels hold in the output: the nodata value, else NaN (float) or 0."""
    if nodata is not None:
        return nodata
    return np.nan if np.dtype(dtype).kind == "f" else 0


def _off_nodata(dtype: np.dtype, nodata: float):
    """The value a valid result equal to ``nodata`` is moved to, so it is not read back as nodata."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return dtype.type(np.nextafter(dtype.type(nodata), dtype.type(np.inf)))
    info = np.iinfo(dtype)
    return dtype.type(nodata - 1 if nodata >= info.max else nodata + 1)


def apply_nodata(block: np.ndarray, valid: np.ndarray | None, nodata: float | None) -> np.ndarray:
    """``block`` (rows, W, C) with invalid pixels set to the nodata value (NaN or 0 without one) and
    valid pixels that equal the nodata value moved one step off it."""
    if valid is None:
        return block
    if nodata is not None and not np.isnan(nodata):
        block = np.where(valid[..., None] & (block == nodata), _off_nodata(block.dtype, nodata), block)
    block[~valid] = _invalid_fill(block.dtype, nodata)
    return block


class Scene:
    """The bands of a scene that a model takes, read by row windows.

    ``shape`` is (H, W, C) of the picked bands, ``dtype`` their dtype, ``scale`` their value of full
    scale, ``band_names`` their descriptions, ``nodata`` the nodata value (or None), ``masked``
    whether :meth:`read` returns a validity mask, ``gdal_masked`` whether that mask is GDAL's (a
    nodata value, mask or alpha band), ``profile`` the rasterio profile of a GDAL raster (None
    otherwise).
    """

    name: str
    shape: tuple[int, int, int]
    dtype: np.dtype
    scale: float
    band_names: tuple[str | None, ...]
    nodata: float | None = None
    masked: bool = False
    gdal_masked: bool = False
    profile: dict | None = None

    def read(self, row: int, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows ``row`` to ``row + rows``: pixels (rows, W, C) in their dtype, and a (rows, W) bool
        mask of valid pixels (None when every pixel is valid)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ArrayScene(Scene):
    """A scene held as an array (decoded PNG / JPEG, an in-memory or memory-mapped ``.npy`` array).

    Float arrays with NaN or infinite values are refused unless ``nodata`` is NaN; with ``nodata``
    a pixel equal to it in any picked band is invalid.
    """

    def __init__(self, array: np.ndarray, name: str, channels: int, bands=None, scale: float | None = None,
                 nodata: float | None = None):
        if array.ndim not in (2, 3):
            raise Pix2GanError(f"image {name} has shape {array.shape}, not an image (H, W, bands): pass one scene "
                               "as an (H, W, 3) array")
        if array.size == 0 or min(array.shape[:2]) == 0:
            raise Pix2GanError(f"image {name} is empty ({'x'.join(map(str, array.shape))}): pass a non-empty image")
        self.array = array if array.ndim == 3 else array[..., None]
        self.name = name
        count = self.array.shape[-1]
        self.indexes = pick_bands([None] * count, bands, channels, name)
        self.shape = self.array.shape[:2] + (channels,)
        self.dtype = array.dtype
        self.band_names = (None,) * channels
        if nodata is not None and not fits(nodata, array.dtype):
            raise Pix2GanError(f"nodata {nodata} is not a {array.dtype} value of {name}: pass one", argument="nodata")
        self.nodata = None if nodata is None else float(nodata)
        self.masked = nodata is not None
        self.scale = default_scale(array.dtype, name, scale)
        if array.dtype.kind == "f" and not (self.masked and np.isnan(self.nodata)):
            bad = next((r for r in range(0, self.shape[0], 1024)
                        if not np.isfinite(self.array[r:r + 1024][..., self.indexes]).all()), None)
            if bad is not None:
                raise Pix2GanError(f"image {name} holds NaN or infinite values (near row {bad}): fix or mask them "
                                   "first (nodata=nan)")

    def read(self, row, rows):
        pixels = self.array[row:row + rows][..., self.indexes]
        if not self.masked:
            return pixels, None
        invalid = np.isnan(pixels) if np.isnan(self.nodata) else pixels == self.dtype.type(self.nodata)
        return pixels, ~invalid.any(axis=-1)


class RasterScene(Scene):
    """A raster GDAL opens (GeoTIFF, COG, JP2, ...), read through rasterio by row windows.

    Invalid pixels: those GDAL masks in any picked band (nodata value, mask band, alpha band), and
    NaN or infinite values of float rasters; with ``nodata`` given, pixels equal to it instead.
    """

    def __init__(self, path: str, channels: int, bands=None, scale: float | None = None,
                 nodata: float | None = None):
        self.name = path
        try:
            with warnings.catch_warnings():  # a plain TIFF has no georeference: nothing to warn about
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self.dataset = rasterio.open(path)
        except _GDAL_ERRORS as exc:
            raise Pix2GanError(f"image {path} is not an image or raster pix2gan reads (GDAL: {_gdal_text(exc)}): "
                               "replace or remove the file") from None
        try:
            self._describe(path, channels, bands, scale, nodata)
        except BaseException:
            self.dataset.close()
            raise

    def _describe(self, path, channels, bands, scale, nodata):
        ds = self.dataset
        if ds.count == 0 or ds.width == 0 or ds.height == 0:
            raise Pix2GanError(f"image {path} holds no pixels ({ds.width}x{ds.height}, {ds.count} bands): "
                               "pass a raster with image bands (a container's subdatasets are opened by their own names)")
        self.indexes = pick_bands(ds.descriptions, bands, channels, path)
        dtypes = {ds.dtypes[i] for i in self.indexes}
        if len(dtypes) > 1:
            raise Pix2GanError(f"image {path} mixes dtypes {', '.join(sorted(dtypes))} in bands "
                               f"{', '.join(str(i + 1) for i in self.indexes)}: pick bands of one dtype (--bands)")
        self.dtype = np.dtype(dtypes.pop())
        if self.dtype.kind not in "uif":
            raise Pix2GanError(f"image {path} has dtype {self.dtype}: use 8-bit, 16-bit or float rasters")
        self.shape = (ds.height, ds.width, channels)
        self.band_names = tuple(ds.descriptions[i] for i in self.indexes)
        self.scale = default_scale(self.dtype, path, scale)
        self.override = nodata is not None
        if self.override and not fits(nodata, self.dtype):
            raise Pix2GanError(f"nodata {nodata} is not a {self.dtype} value of {path}: pass one", argument="nodata")
        file_nodata = next((ds.nodatavals[i] for i in self.indexes if ds.nodatavals[i] is not None), None)
        if file_nodata is not None and not fits(file_nodata, self.dtype):
            file_nodata = None  # e.g. -9999 on uint16: no pixel holds it; the output marks invalid pixels by a mask
        self.nodata = float(nodata) if self.override else file_nodata
        self.gdal_masked = not self.override and any(
            MaskFlags.all_valid not in ds.mask_flag_enums[i] for i in self.indexes)
        self.masked = self.override or self.gdal_masked or self.dtype.kind == "f"
        self.profile = dict(ds.profile)
        self.profile["predictor"] = ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR")

    def read(self, row, rows):
        window = Window(0, row, self.shape[1], min(rows, self.shape[0] - row))
        numbers = [i + 1 for i in self.indexes]
        try:
            pixels = np.moveaxis(self.dataset.read(numbers, window=window), 0, -1)
            masks = self.dataset.read_masks(numbers, window=window) if self.gdal_masked else None
        except _GDAL_ERRORS as exc:
            raise Pix2GanError(f"image {self.name} could not be read at rows {row}-{row + rows} (GDAL: "
                               f"{_gdal_text(exc)}): the file is damaged; replace it") from None
        if not self.masked:
            return pixels, None
        if self.override:
            invalid = np.isnan(pixels) if np.isnan(self.nodata) else pixels == self.dtype.type(self.nodata)
            valid = ~invalid.any(axis=-1)
        else:
            valid = masks.all(axis=0) if masks is not None else np.ones(pixels.shape[:2], bool)
        if self.dtype.kind == "f":
            valid &= np.isfinite(pixels).all(axis=-1)
        return pixels, valid

    def close(self):
        self.dataset.close()


def read_npy(path: str) -> np.ndarray:
    """A ``.npy`` scene, memory-mapped (numeric arrays only: object arrays are never unpickled)."""
    if not os.path.isfile(path):
        raise Pix2GanError(f"image {path} does not exist: check the path")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError... for a damaged header or size
        raise Pix2GanError(f"image {path} is not a readable .npy array ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:120] if str(exc) else 'damaged'}): write it again with "
                           "numpy.save") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "uif" or array.dtype.fields is not None:
        raise Pix2GanError(f"image {path} holds {getattr(array, 'dtype', type(array).__name__)} values, not "
                           "pixels: save a uint8, uint16 or float array")
    return array


def _sniff(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise Pix2GanError(f"image {path} could not be read ({exc.strerror}): check its permissions") from None
    if not head:
        raise Pix2GanError(f"image {path} is empty (0 bytes): replace or remove it")
    return image_format(head)


def open_scene(image: str | np.ndarray, channels: int = 3, *, bands=None, scale: float | None = None,
               nodata: float | None = None, name: str | None = None) -> Scene:
    """The ``channels`` bands of ``image`` (a path or an array) as a :class:`Scene`.

    Paths: ``.npy`` is memory-mapped; JPEG, PNG, BMP and GIF are decoded by
    :func:`pix2gan.imaging.read_image`; anything else is opened by GDAL and read by windows.
    ``bands``, ``scale`` and ``nodata`` override the defaults (see the module doc). Raises
    :class:`Pix2GanError` naming the file for missing, unreadable or wrongly banded scenes.
    """
    if not isinstance(image, str):
        return ArrayScene(np.asarray(image), name or "array", channels, bands, scale, nodata)
    if image.lower().endswith(".npy"):
        return ArrayScene(read_npy(image), image, channels, bands, scale, nodata)
    if not os.path.isfile(image):
        raise Pix2GanError(f"image {image} does not exist: check the path")
    if _sniff(image) in DECODED_FORMATS:
        return ArrayScene(read_image(image), image, channels, bands, scale, nodata)
    return RasterScene(image, channels, bands, scale, nodata)


def read_scene(path: str) -> np.ndarray:
    """A whole scene with all its bands, (H, W) or (H, W, bands) in its dtype: ``.npy``
    memory-mapped, images decoded, rasters read through GDAL (for scenes that fit in memory;
    :func:`open_scene` reads by windows)."""
    if path.lower().endswith(".npy"):
        return read_npy(path)
    if not os.path.isfile(path):
        raise Pix2GanError(f"image {path} does not exist: check the path")
    if _sniff(path) in DECODED_FORMATS:
        return read_image(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(path) as ds:
                return np.moveaxis(ds.read(), 0, -1)
        except _GDAL_ERRORS as exc:
            raise Pix2GanError(f"image {path} is not an image or raster pix2gan reads (GDAL: {_gdal_text(exc)}): "
                               "replace or remove the file") from None


def check_output(path: str, cog: bool = False) -> str:
    """Refuse an output path no sink writes (see :func:`open_sink`) before any work is done."""
    if cog and not path.lower().endswith(RASTER_OUTPUTS):
        raise Pix2GanError(f"output {path} is not a .tif: a Cloud-Optimised GeoTIFF (cog) is written to .tif",
                           argument="cog")
    return check_output_file(path, also=(".npy",) + RASTER_OUTPUTS)


def _temporary(path: str, tag: str = "tmp") -> str:
    folder, base = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(base)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f".{stem}.{tag}{os.getpid()}{ext}")


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


class Sink:
    """Where result rows go: :meth:`write` rows in order, then :meth:`close` (which renames the
    finished file into place; :meth:`abort` removes it)."""

    path: str | None = None
    array: np.ndarray | None = None  # the in-memory result, where there is one

    def __init__(self, shape, dtype, nodata):
        self.shape, self.dtype, self.nodata = tuple(shape), np.dtype(dtype), nodata

    def write(self, row: int, block: np.ndarray, valid: np.ndarray | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output."""

    def abort(self) -> None:
        """Remove what was written."""

    def _commit(self, tmp: str) -> None:
        fsync_path(tmp)
        os.replace(tmp, self.path)
        fsync_path(os.path.dirname(os.path.abspath(self.path)))


class ArraySink(Sink):
    """Rows into an array: in memory, or a memory-mapped ``.npy`` file (``path``)."""

    def __init__(self, shape, dtype, nodata, path: str | None = None):
        super().__init__(shape, dtype, nodata)
        self.path = path
        if path is None:
            self.array = np.empty(self.shape, self.dtype)
        else:
            self.tmp = _temporary(path)
            self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=self.dtype, shape=self.shape)

    def write(self, row, block, valid):
        self.array[row:row + len(block)] = apply_nodata(block, valid, self.nodata)

    def close(self):
        if self.path is not None:
            self.array.flush()
            self._commit(self.tmp)

    def abort(self):
        if self.path is not None:
            del self.array
            _remove(self.tmp)


class ImageSink(ArraySink):
    """PNG, JPEG, ...: rows into memory, encoded by :func:`pix2gan.imaging.write_image` at the end."""

    def __init__(self, shape, dtype, nodata, path: str):
        super().__init__(shape, dtype, nodata)
        self.path = path

    def close(self):
        tmp = _temporary(self.path)
        try:
            write_image(tmp, self.array[..., 0] if self.shape[-1] == 1 else self.array)
            self._commit(tmp)
        finally:
            _remove(tmp)

    def abort(self):
        pass


def _compression(profile: dict | None, dtype: np.dtype, channels: int) -> str | None:
    """The input's compression where a GeoTIFF of ``dtype`` can hold it, else DEFLATE (None: none)."""
    codec = str((profile or {}).get("compress") or "").lower()
    if not codec:
        return None
    if codec not in _GTIFF_CODECS or (codec == "jpeg" and dtype != np.uint8) or \
            (codec == "webp" and (dtype != np.uint8 or channels not in (3, 4))):
        return "deflate"
    return codec


class GeoTiffSink(Sink):
    """Rows into a tiled GeoTIFF through rasterio, with the georeference, nodata, band names and
    compression of ``scene``; ``cog`` copies it into a Cloud-Optimised GeoTIFF at the end."""

    def __init__(self, scene: Scene, path: str, cog: bool = False):
        super().__init__(scene.shape, scene.dtype, scene.nodata)
        self.path, self.cog, self.scene = path, cog, scene
        profile = scene.profile or {}
        h, w, c = self.shape
        self.compress = _compression(profile, self.dtype, c)
        options = dict(driver="GTiff", height=h, width=w, count=c, dtype=self.dtype.name, crs=profile.get("crs"),
                       transform=profile.get("transform"), nodata=scene.nodata, tiled=True, blockxsize=BLOCK,
                       blockysize=BLOCK, bigtiff="IF_SAFER", interleave="pixel")
        if self.compress:
            options["compress"] = self.compress
            if profile.get("predictor") and self.compress in ("deflate", "lzw", "zstd", "lzma"):
                options["predictor"] = profile["predictor"]
        if c == 3:  # the network's output is RGB, whichever bands fed it
            options["photometric"] = "ycbcr" if self.compress == "jpeg" else "rgb"
        self.mask = scene.gdal_masked and scene.nodata is None  # no nodata value to mark GDAL's mask: a mask band
        self.tmp = _temporary(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self.dataset = rasterio.open(self.tmp, "w", **options)
            for i, band in enumerate(scene.band_names, 1):
                if band:
                    self.dataset.set_band_description(i, band)
        except _GDAL_ERRORS as exc:
            self.abort()
            raise Pix2GanError(f"output {path} could not be created (GDAL: {_gdal_text(exc)}): check the folder "
                               "is writable") from None

    def write(self, row, block, valid):
        window = Window(0, row, self.shape[1], len(block))
        block = apply_nodata(block, valid, self.nodata)
        try:
            self.dataset.write(np.moveaxis(block, -1, 0), window=window)
            if self.mask:
                mask = np.full(block.shape[:2], 255, np.uint8) if valid is None else valid.astype(np.uint8) * 255
                self.dataset.write_mask(mask, window=window)
        except _GDAL_ERRORS as exc:
            raise Pix2GanError(f"output {self.path} could not be written (GDAL: {_gdal_text(exc)}): check free "
                               "space") from None

    def close(self):
        try:
            self.dataset.close()
            if self.cog:
                final = _temporary(self.path, "cog")
                try:
                    options = {"compress": self.compress or "deflate", "blocksize": 512, "bigtiff": "IF_SAFER"}
                    rasterio.shutil.copy(self.tmp, final, driver="COG", **options)
                    _remove(self.tmp)
                    self.tmp = final
                except BaseException:
                    _remove(final)
                    raise
            self._commit(self.tmp)
        except _GDAL_ERRORS as exc:
            raise Pix2GanError(f"output {self.path} could not be finished (GDAL: {_gdal_text(exc)}): check free "
                               "space") from None
        finally:
            _remove(self.tmp)

    def abort(self):
        dataset = getattr(self, "dataset", None)
        if dataset is not None and not dataset.closed:
            dataset.close()
        _remove(self.tmp)


def open_sink(scene: Scene, path: str | None = None, *, cog: bool = False) -> Sink:
    """Where the result of ``scene`` goes: in memory (no ``path``), a GeoTIFF (``.tif``, ``cog`` for a
    Cloud-Optimised one), a memory-mapped ``.npy``, or an image file OpenCV writes (PNG, JPEG)."""
    if path is None:
        return ArraySink(scene.shape, scene.dtype, scene.nodata)
    check_output(path, cog)
    ext = os.path.splitext(path)[1].lower()
    if ext in RASTER_OUTPUTS:
        return GeoTiffSink(scene, path, cog)
    if ext == ".npy":
        return ArraySink(scene.shape, scene.dtype, scene.nodata, path)
    return ImageSink(scene.shape, scene.dtype, scene.nodata, path)
