"""Drives the local stack's MCP endpoint with the MCP Python SDK (PyPI `mcp`), an
implementation independent of ours, for tools/e2e/tests/mcp.rs.

    mcp_client.py MCP_URL TOKEN

Lists the tools and the kinds `create_video` takes, creates a video through `create_video` and
follows it with `get_video` until it ends, then makes sound for it (a `video_to_audio` job on
that video), then sends an invalid and a blocked request. Prints one JSON document:
{"tools": [...], "kinds": [...], "created": {...}, "final": {...}, "sound": {...},
"errors": {"invalid": code, "blocked": code}}.
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def answer(result):
    """What the tool answered: the API's status and body."""
    return result.structured_content or json.loads(result.content[0].text)


async def follow(session, created):
    """get_video until the task ends; its last answer."""
    final = created
    for _ in range(240):
        final = answer(await session.call_tool("get_video", {"id": created["body"]["id"]}))
        if final["body"]["status"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            break
        await asyncio.sleep(0.25)
    return final


def kinds(tools):
    """The `type` of each request shape create_video's schema offers."""
    create = next(t for t in tools if t.name == "create_video")
    shapes = create.input_schema["properties"]["request"]["oneOf"]
    return [s["properties"]["type"]["const"] for s in shapes]


async def run(url: str, token: str) -> dict:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                listed = (await session.list_tools()).tools
                tools = [t.name for t in listed]
                request = {"type": "text_to_video", "prompt": "a lighthouse in a storm, waves crashing", "duration": 5}
                created = answer(await session.call_tool("create_video", {"request": request}))
                final = await follow(session, created)
                sound = {"type": "video_to_audio", "source": {"video_id": created["body"]["id"]},
                         "prompt": "wind and breaking waves"}
                sound = await follow(session, answer(await session.call_tool("create_video", {"request": sound})))
                errors = {}
                for name, body in {
                    "invalid": {"type": "text_to_video", "prompt": "long " * 600, "duration": 5},
                    "blocked": {"type": "text_to_video", "prompt": "a graphic beheading in close-up", "duration": 5},
                }.items():
                    result = await session.call_tool("create_video", {"request": body})
                    errors[name] = {"is_error": result.is_error, "code": answer(result)["body"]["error"]["code"]}
    return {"tools": tools, "kinds": kinds(listed), "created": created, "final": final,
            "sound": sound, "errors": errors}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(json.dumps(asyncio.run(run(sys.argv[1], sys.argv[2]))))
