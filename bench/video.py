"""Video upload processing: a phone-like 1080p clip probed and transcoded as the
`transcode_media` job does it (social/media/transcoding.py: ffprobe's checks, then H.264/AAC
MP4 with faststart and a poster frame), on the machine's cores.

    python -m bench.video [--seconds 30] [--runs 3]

The clip is made first with ffmpeg (1920x1080 at 30 frames/s of moving test pattern and
noise, H.264 at about 12 Mbit/s with stereo AAC, as a phone records) and is not timed. Each
run probes and transcodes it into a fresh directory; the figure is the wall time per second of
video. No database: the job's database work is a few statements around this.
Target (issue 15): a 30 s 1080p clip transcoded in <= 2x its duration on 2 cores.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import Dataset, emit, latency_stats, parser, run


def phone_clip(path: Path, seconds: int) -> None:
    """A 1080p30 H.264 + AAC clip of `seconds` at a phone's bitrate, at `path`."""
    video = f"testsrc2=size=1920x1080:rate=30:duration={seconds},noise=alls=12:allf=t"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video]
    command += ["-f", "lavfi", "-i", audio, "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast"]
    command += ["-b:v", "12M", "-c:a", "aac", "-b:a", "192k", "-shortest", str(path)]
    subprocess.run(command, check=True)


async def main() -> None:
    """Entry point."""
    from agora.config import get_settings
    from agora.social.media import transcoding

    p = parser(__doc__ or "")
    p.add_argument("--seconds", type=int, default=30, help="length of the clip")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if not transcoding.ffmpeg_available():
        raise SystemExit("ffmpeg is not installed (make setup-test installs it)")
    settings = get_settings()
    work = Path(tempfile.mkdtemp(prefix="agora-bench-video-"))
    try:
        source = work / "clip.mp4"
        phone_clip(source, args.seconds)
        walls: list[float] = []
        for run_number in range(args.runs):
            out = work / f"run{run_number}"
            out.mkdir()
            started = time.perf_counter()
            found = transcoding.probe(
                source,
                max_duration=settings.media_max_duration,
                max_pixels=settings.media_max_pixels,
            )
            made = transcoding.transcode(source, found, out, max_side=settings.media_video_max_side)
            walls.append(time.perf_counter() - started)
        per_second = [w / args.seconds for w in walls]
        metrics = {
            "clip": {
                "seconds": args.seconds,
                "width": 1920,
                "height": 1080,
                "bytes": source.stat().st_size,
            },
            "output": {
                "width": made.width,
                "height": made.height,
                "bytes": made.path.stat().st_size,
            },
            "probe_and_transcode": latency_stats(walls),
            "wall_per_video_second_p50": round(sorted(per_second)[len(per_second) // 2], 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    targets = {"transcode_le_2x_duration": metrics["wall_per_video_second_p50"] <= 2.0}
    emit("video", Dataset("-", "none", 0, 0, None), metrics, targets)


if __name__ == "__main__":
    run(main())
