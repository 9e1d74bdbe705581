"""Call the ``video_reason`` MCP tool the way an agent host does: spawn ``vt-agent-mcp`` over stdio.

    python examples/mcp_client.py                 # scripted fake backend, bundled clip
    python examples/mcp_client.py --backend openai --base-url http://gpu-box:8000/v1 --video /videos/x.mp4

Prints the progress notifications as they arrive, then the answer, the cited spans and how many
evidence images came back. A call that is still running after ``wait_s`` returns a job_id; the
example then polls with it, as a host model is told to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos" / "bigbuckbunny.mp4"


async def run(args: argparse.Namespace) -> int:
    video = Path(args.video).resolve()
    server_args = ["-m", "mcp_server", "--backend", args.backend, "--allow", str(video.parent)]
    if args.base_url:
        server_args += ["--base-url", args.base_url]
    params = StdioServerParameters(command=sys.executable, args=server_args)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        print(f"  [{progress:5.1f}%] {message}")

    async with Client(params) as client:
        request: dict[str, Any] = {
            "videos": [str(video)],
            "question": args.question,
            "options": [
                "Eats a flower",
                "Stretches his arms and yawns",
                "Jumps into a river",
                "Waves at a bird",
            ],
            "thumbnails": 2,
            "wait_s": args.wait,
        }
        result = await client.call_tool("video_reason", request, progress_callback=on_progress)
        while (
            not result.is_error
            and result.structured_content
            and result.structured_content["status"] == "running"
        ):
            job_id = result.structured_content["job_id"]
            print(f"  still running: polling job {job_id}")
            again = {**request, "job_id": job_id}  # the same arguments wait on the job, never restart it
            result = await client.call_tool("video_reason", again, progress_callback=on_progress)
        if result.is_error:
            print("tool error:", result.content[0].text if result.content else "?")  # type: ignore[union-attr]
            return 1
        data = result.structured_content or {}
        print("answer:", data.get("answer"), "(scripted fake backend)" if data.get("scripted") else "")
        for seg in data.get("segments", []):
            print(f"  {seg['start']}-{seg['end']}  {seg['caption']}")
        images = [c for c in result.content if c.type == "image"]
        print(f"format ok: {data.get('format', {}).get('ok')} | evidence images: {len(images)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", default=str(CLIP))
    parser.add_argument("--question", default="What does the character do in the middle of the clip?")
    parser.add_argument("--backend", default="fake")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--wait", type=float, default=45.0, help="wait_s of the first call")
    args = parser.parse_args()
    result: int = anyio.run(run, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
