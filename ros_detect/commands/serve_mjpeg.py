"""`ros-detect serve-mjpeg [VIDEO]`: a stand-in webcam on 127.0.0.1 for trying webcam mode without one."""

from __future__ import annotations

import argparse
import threading

from ros_detect.media.mjpeg_server import MjpegServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", help="video file to loop (default: the synthetic street clip)")
    parser.add_argument("--fps", type=float, default=15.0, help="frames per second (default 15)")
    parser.add_argument("--port", type=int, default=8090, help="TCP port on 127.0.0.1 (default 8090)")


def run(args: argparse.Namespace) -> int:
    with MjpegServer(fps=args.fps, port=args.port, video=args.video) as server:
        print(f"serving {args.video or 'the synthetic clip'} at {args.fps:g} fps on {server.url}")
        print(f"try: ros-detect launch webcam --source {server.url}   (Ctrl-C to stop)")
        threading.Event().wait()
    return 0
