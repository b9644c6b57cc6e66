"""Video, audio and animated GIFs with ffmpeg (Debian's `ffmpeg` package): `probe` checks an
upload with ffprobe, `transcode` turns it into what every browser and app plays.

Invariants:
- An upload's kind is decided by its content as ffprobe reads it (container and streams), never
  by the client's MIME type or file name; only the containers in `ACCEPTED_CONTAINERS` pass
  (ffprobe also "reads" text files, images and playlists, which are refused).
- Limits are checked before any transcoding: duration (`media_max_duration`) and pixels
  (`media_max_pixels`).
- Output: video → H.264/AAC MP4 with the moov atom first (faststart), even dimensions, the
  longer side capped at `media_video_max_side`, no metadata; animated GIF → the same, silent,
  type `gifv`; audio → MP3. A poster frame (JPEG) for video and gifv.
- Everything is synchronous and works in a caller-given directory: callers run it in a thread,
  and move results into the media store only once complete (so a crash leaves no half file).
- Without ffmpeg installed, `probe` raises Invalid with a clear message (a 422).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from agora.social.rules.errors import Invalid

CONTENT_TYPES = {"mp4": "video/mp4", "mp3": "audio/mpeg"}
EXTENSIONS = {"mp4": "mp4", "mp3": "mp3"}
# ffprobe's format names (each is a comma-separated list, e.g. "mov,mp4,m4a,3gp,3g2,mj2").
ACCEPTED_CONTAINERS = frozenset(
    {"mov", "mp4", "m4a", "matroska", "webm", "mp3", "ogg", "wav", "gif"}
)
NO_FFMPEG = (
    "Validation failed: Video and audio uploads are not available on this server (ffmpeg is"
    " not installed)"
)
NOT_MEDIA = (
    "Validation failed: File is not a supported image, video or audio file (JPEG, PNG, WebP,"
    " GIF, MP4, WebM, MOV, MP3, Ogg, WAV or M4A)"
)
# What clients may upload (the instance advertises them when ffmpeg is installed).
UPLOAD_MIME_TYPES = (
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/mp4",
    "audio/x-m4a",
)
PROBE_TIMEOUT = 30
AUDIO_BITRATE = "128k"


class TranscodeCrash(RuntimeError):
    """ffmpeg is missing, was killed or timed out: not the file's fault, try again later."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What ffprobe found in an acceptable upload."""

    media_type: str  # video, gifv or audio
    duration: float
    width: int  # 0 for audio
    height: int
    fps: float | None


@dataclass(frozen=True, slots=True)
class Transcoded:
    """A transcoded upload in the work directory: the file, its poster frame (video, gifv)."""

    file_format: str  # a key of CONTENT_TYPES
    path: Path
    poster: Path | None
    width: int
    height: int
    duration: float
    fps: float | None


def ffmpeg_available(ffmpeg: str = "ffmpeg") -> bool:
    """Whether ffmpeg can be run (video and audio uploads need it)."""
    return shutil.which(ffmpeg) is not None


def probe(path: Path, *, max_duration: float, max_pixels: int, ffprobe: str = "ffprobe") -> Probe:
    """Check an uploaded file: a supported container with a video or audio stream, within the
    duration and pixel limits. Invalid (a 422) otherwise, also for a corrupt or truncated
    file, or when ffprobe is not installed."""
    command = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    try:
        done = subprocess.run(
            [*command, str(path)], capture_output=True, timeout=PROBE_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise Invalid(NO_FFMPEG) from None
    except subprocess.TimeoutExpired:
        raise Invalid(NOT_MEDIA) from None
    if done.returncode != 0:
        raise Invalid(NOT_MEDIA)
    try:
        found = json.loads(done.stdout)
    except ValueError:
        raise Invalid(NOT_MEDIA) from None
    return _checked(found, max_duration=max_duration, max_pixels=max_pixels)


def _checked(found: dict[str, Any], *, max_duration: float, max_pixels: int) -> Probe:
    container = found.get("format", {})
    names = set(str(container.get("format_name", "")).split(","))
    if not names & ACCEPTED_CONTAINERS:
        raise Invalid(NOT_MEDIA)
    streams = found.get("streams", [])
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    duration = _number(container.get("duration"))
    if duration is None and videos:
        duration = _number(videos[0].get("duration"))
    if duration is None or duration <= 0 or not (videos or audios):
        raise Invalid(NOT_MEDIA)
    if duration > max_duration:
        raise Invalid(f"Validation failed: File is longer than {max_duration:g} seconds")
    if not videos:
        return Probe("audio", duration, 0, 0, None)
    video = videos[0]
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise Invalid(NOT_MEDIA)
    if width * height > max_pixels:
        raise Invalid("Validation failed: Video is too large (too many pixels)")
    media_type = "gifv" if video.get("codec_name") == "gif" else "video"
    return Probe(media_type, duration, width, height, _rate(video.get("avg_frame_rate")))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number != float("inf") else None


def _rate(value: Any) -> float | None:
    """A frame rate as ffprobe writes it ("30000/1001"), in frames per second."""
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(rate), 3) if rate > 0 else None


def transcode(
    source: Path,
    found: Probe,
    work: Path,
    *,
    max_side: int,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout: float = 3600,
) -> Transcoded:
    """Transcode a probed upload into `work` (see the module docstring). Invalid when ffmpeg
    fails on it (a stream corrupt past what ffprobe read)."""
    if found.media_type == "audio":
        out = work / "out.mp3"
        command = [ffmpeg, "-i", str(source), "-map", "0:a:0", "-vn", "-map_metadata", "-1"]
        _run([*command, "-c:a", "libmp3lame", "-b:a", AUDIO_BITRATE, str(out)], timeout)
        return Transcoded("mp3", out, None, 0, 0, found.duration, None)
    out = work / "out.mp4"
    fit = f"min({max_side},iw)"
    scale = (
        f"scale=w='{fit}':h='min({max_side},ih)':force_original_aspect_ratio=decrease"
        ":force_divisible_by=2"
    )
    silent = found.media_type == "gifv"
    audio = ["-an"] if silent else ["-map", "0:a:0?", "-c:a", "aac", "-b:a", AUDIO_BITRATE]
    command = [ffmpeg, "-i", str(source), "-map", "0:v:0", *audio, "-vf", scale]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    command += ["-map_metadata", "-1", "-movflags", "+faststart", str(out)]
    _run(command, timeout)
    poster = work / "poster.jpg"
    _run([ffmpeg, "-i", str(out), "-frames:v", "1", "-q:v", "3", str(poster)], timeout)
    width, height = _output_size(ffprobe, out)
    return Transcoded("mp4", out, poster, width, height, found.duration, found.fps)


def _run(command: list[str], timeout: float) -> None:
    """Run ffmpeg. A missing, killed or timed-out ffmpeg raises TranscodeCrash (worth a
    retry); a file it refuses raises Invalid."""
    base = [command[0], "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    try:
        done = subprocess.run(base + command[1:], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TranscodeCrash(f"ffmpeg did not run: {exc}") from exc
    if done.returncode < 0:
        raise TranscodeCrash(f"ffmpeg was killed (signal {-done.returncode})")
    if done.returncode != 0:
        raise Invalid("Validation failed: The file could not be processed")


def _output_size(ffprobe: str, path: Path) -> tuple[int, int]:
    command = [ffprobe, "-v", "error", "-select_streams", "v:0", "-of", "csv=p=0"]
    done = subprocess.run(
        [*command, "-show_entries", "stream=width,height", str(path)],
        capture_output=True,
        timeout=PROBE_TIMEOUT,
        check=True,
    )
    width, height = done.stdout.decode().strip().split(",")[:2]
    return int(width), int(height)
