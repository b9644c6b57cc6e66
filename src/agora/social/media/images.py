"""Image processing for uploads (Pillow): check that the bytes really are an image we accept,
detected by content (never by the client's MIME type or file name), enforce the pixel limit
before decoding, apply the EXIF orientation, re-encode without any metadata (EXIF, GPS, XMP,
comments), make a preview and compute its blurhash; `profile_picture` does the same checks for
avatars and headers, cropped and resized to their fixed sizes.

Everything here is CPU-bound and synchronous: callers run `process_image` in a thread.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import blurhash
from PIL import Image, ImageOps, ImageSequence

from agora.social.rules.errors import Invalid

log = logging.getLogger("agora.media")
T = TypeVar("T")

ACCEPTED = ("JPEG", "PNG", "WEBP", "GIF")
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}
BLURHASH_SIDE = 32
BLURHASH_COMPONENTS = (4, 4)
NOT_AN_IMAGE = "Validation failed: File is not a supported image (JPEG, PNG, WebP or GIF)"
CORRUPT = "Validation failed: File is a truncated or corrupt image"


@dataclass(frozen=True, slots=True)
class Rendition:
    """One encoded file: the cleaned original or its preview."""

    format: str  # a key of CONTENT_TYPES
    data: bytes
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """A checked upload: the original without metadata, a preview and its blurhash."""

    original: Rendition
    preview: Rendition
    blurhash: str


def process_image(data: bytes, *, max_pixels: int, preview_side: int) -> ProcessedImage:
    """Check and clean one uploaded image. Raises Invalid (a 422) for anything that is not a
    complete JPEG, PNG, WebP or GIF within `max_pixels` (all frames of an animation count)."""
    with _opened(data, max_pixels) as image:
        return _decoded(lambda: _clean(image, preview_side))


def profile_picture(data: bytes, *, max_pixels: int, size: tuple[int, int]) -> Rendition:
    """An uploaded avatar or header, checked as `process_image` checks, then cropped to the
    proportions of `size` around its centre and resized to it: a still JPEG (PNG when it has
    transparency; the first frame of an animation) with nothing but pixels."""
    with _opened(data, max_pixels) as image:
        return _decoded(lambda: _fitted(image, size))


def emoji_image(data: bytes, *, max_pixels: int, side: int) -> tuple[str, Rendition]:
    """A custom emoji's upload checked as `process_image` checks (an image by content, a
    PNG, GIF or WebP, within `max_pixels` counting every frame, decoded whole): its format
    (a key of CONTENT_TYPES; the original is kept as uploaded, animation included) and its
    still: the first frame as a PNG of at most `side` pixels a side, nothing but pixels."""
    with _opened(data, max_pixels) as image:
        if image.format not in ("PNG", "GIF", "WEBP"):
            raise Invalid("Validation failed: An emoji is a PNG, GIF or WebP image")
        fmt = image.format.lower()
        return fmt, _decoded(lambda: _still(image, side))


def _still(image: Image.Image, side: int) -> Rendition:
    image.load()  # raises for truncated files
    for frame in ImageSequence.Iterator(image):  # every frame decodes (a broken one raises)
        frame.load()
    image.seek(0)
    still = image.convert("RGBA")
    still.thumbnail((side, side), Image.Resampling.LANCZOS)
    return Rendition("png", _save(still, "png"), still.width, still.height)


def _opened(data: bytes, max_pixels: int) -> Image.Image:
    """The image in `data`, within the pixel limit (checked before decoding); Invalid for
    anything else."""
    if not data:
        raise Invalid("Validation failed: File is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED)
    except Image.DecompressionBombError:
        raise Invalid(_too_large(max_pixels)) from None
    except Exception:
        raise Invalid(CORRUPT if _has_image_signature(data) else NOT_AN_IMAGE) from None
    try:
        _check_pixels(image, max_pixels)
    except Invalid:
        image.close()
        raise
    return image


def _decoded(work: Callable[[], T]) -> T:
    """Run `work` on an opened image: Pillow's many errors for a broken file become Invalid."""
    try:
        return work()
    except Invalid:
        raise
    except Exception as exc:  # Pillow raises many kinds for broken files
        log.debug("rejected a broken image: %r", exc)
        raise Invalid(CORRUPT) from None


def _fitted(image: Image.Image, size: tuple[int, int]) -> Rendition:
    image.load()  # raises for truncated files
    upright = ImageOps.exif_transpose(image) or image
    alpha = _has_alpha(upright)
    source = upright.convert("RGBA" if alpha else "RGB")
    fitted = ImageOps.fit(source, size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    fmt = "png" if alpha else "jpeg"
    options: dict[str, Any] = {} if alpha else {"quality": 88}
    return Rendition(fmt, _save(fitted, fmt, **options), fitted.width, fitted.height)


def _has_image_signature(data: bytes) -> bool:
    """Starts like one of the accepted formats (so a failure to open means a broken file)."""
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def _too_large(max_pixels: int) -> str:
    return f"Validation failed: Image is larger than {max_pixels} pixels"


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    frames = getattr(image, "n_frames", 1)
    if width < 1 or height < 1:
        raise Invalid(CORRUPT)
    if width * height * frames > max_pixels:
        raise Invalid(_too_large(max_pixels))


def _clean(image: Image.Image, preview_side: int) -> ProcessedImage:
    source_format = (image.format or "").lower()
    icc = image.info.get("icc_profile")
    if getattr(image, "n_frames", 1) > 1:
        original, first = _animated(image, source_format)
    else:
        image.load()  # raises for truncated files
        first = ImageOps.exif_transpose(image) or image
        first.info = _pixels_only(image.info)
        original = _encode(first, source_format, icc)
    preview, small = _preview(first, preview_side)
    return ProcessedImage(original=original, preview=preview, blurhash=_blurhash(small))


def _pixels_only(info: Mapping[str | tuple[int, int], Any]) -> dict[str | tuple[int, int], Any]:
    """What of an image's `info` describes pixels (transparency); EXIF, XMP, text chunks and
    comments are dropped."""
    return {"transparency": info["transparency"]} if "transparency" in info else {}


def _encode(image: Image.Image, fmt: str, icc: bytes | None) -> Rendition:
    """Re-encode a still image in its own format with nothing but pixels (and colour profile)."""
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt == "jpeg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        options.update(quality=90)
    elif fmt == "webp":
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        options.update(quality=90)
    elif fmt == "gif":
        options.pop("icc_profile", None)
    return Rendition(fmt, _save(image, fmt, **options), image.width, image.height)


def _animated(image: Image.Image, fmt: str) -> tuple[Rendition, Image.Image]:
    """An animated GIF or WebP, re-encoded frame by frame (timing and looping kept)."""
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)))
        copy = frame.convert("RGBA")
        copy.info = {}
        frames.append(copy)
    first = frames[0]
    options: dict[str, Any] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "loop": int(image.info.get("loop", 0)),
    }
    if fmt == "webp":
        options.update(quality=90)
    else:
        options.update(disposal=2)
    return Rendition(fmt, _save(first, fmt, **options), first.width, first.height), first


def _preview(image: Image.Image, side: int) -> tuple[Rendition, Image.Image]:
    """A small still version (at most `side` pixels on its long side): JPEG, or WebP when
    the image has transparency. Resized first, converted after (cheaper on big images)."""
    alpha = _has_alpha(image)
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    source = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA")
    small = source.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    small = small.convert("RGBA" if alpha else "RGB")
    fmt = "webp" if alpha else "jpeg"
    data = _save(small, fmt, quality=85)
    return Rendition(fmt, data, small.width, small.height), small


def _blurhash(image: Image.Image) -> str:
    """The BlurHash of `image`, computed on a copy of at most BLURHASH_SIDE pixels a side by
    the reference C encoder (blurhash-python; the pure-Python encoder took 14 ms of a web
    process's CPU, holding the GIL, for each uploaded image)."""
    tiny = image.convert("RGB")  # a copy: the encoder closes the image it is given
    tiny.thumbnail((BLURHASH_SIDE, BLURHASH_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    x, y = BLURHASH_COMPONENTS
    return str(blurhash.encode(tiny, x_components=x, y_components=y))


def _has_alpha(image: Image.Image) -> bool:
    """Whether some pixel is not fully opaque (an alpha channel that is all 255 is not)."""
    if image.mode == "P":
        return "transparency" in image.info
    if image.mode in ("RGBA", "LA", "PA"):
        low = image.getchannel("A").getextrema()[0]  # one band: (lowest, highest)
        return isinstance(low, int | float) and low < 255
    return False


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt.upper(), **options)
    return out.getvalue()
