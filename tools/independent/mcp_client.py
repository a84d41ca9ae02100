"""Drives the local stack's MCP endpoint with the MCP Python SDK (PyPI `mcp`), an
implementation independent of ours, for tools/e2e/tests/mcp.rs.

    mcp_client.py MCP_URL TOKEN

Lists the tools, creates a video through `create_video` and follows it with `get_video` until
it ends, then sends an invalid and a blocked request. Prints one JSON document:
{"tools": [...], "created": {...}, "final": {...}, "errors": {"invalid": code, "blocked": code}}.
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


async def run(url: str, token: str) -> dict:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = [t.name for t in (await session.list_tools()).tools]
                request = {"type": "text_to_video", "prompt": "a lighthouse in a storm, waves crashing", "duration": 5}
                created = answer(await session.call_tool("create_video", {"request": request}))
                task_id = created["body"]["id"]
                final = created
                for _ in range(240):
                    final = answer(await session.call_tool("get_video", {"id": task_id}))
                    if final["body"]["status"] in ("SUCCEEDED", "FAILED", "CANCELED"):
                        break
                    await asyncio.sleep(0.25)
                errors = {}
                for name, body in {
                    "invalid": {"type": "text_to_video", "prompt": "long " * 600, "duration": 5},
                    "blocked": {"type": "text_to_video", "prompt": "a graphic beheading in close-up", "duration": 5},
                }.items():
                    result = await session.call_tool("create_video", {"request": body})
                    errors[name] = {"is_error": result.is_error, "code": answer(result)["body"]["error"]["code"]}
    return {"tools": tools, "created": created, "final": final, "errors": errors}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(json.dumps(asyncio.run(run(sys.argv[1], sys.argv[2]))))
