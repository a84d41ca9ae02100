"""Drives the local stack's MCP endpoint with the MCP Python SDK (PyPI `mcp`), an
implementation independent of ours, for tools/e2e/tests/mcp.rs.

    mcp_client.py MCP_URL TOKEN [PHOTO VIDEO VOICE]

First, with no token, it asks for the tools and follows the MCP authorization flow as far as
discovery, with the SDK's own helpers: the 401, the `resource_metadata` URL in its
`WWW-Authenticate`, and the protected resource metadata (RFC 9728) read and validated. Then it
lists the tools and the kinds `create_video` takes, creates a video through `create_video` and
follows it with `get_video` until it ends, then makes sound for it (a `video_to_audio` job on
that video). Given a photo, a reference video and a voice file, it uploads them through the HTTP
API (`POST /v1/uploads`, as an app would) and makes every other kind through `create_video` too.
`MCP_KINDS` (comma-separated) limits the kinds it makes and skips the sound step, for a stack
whose provider offers only some kinds (Kling's standard API: `omni_edit`). Then it sends an
invalid and a blocked request. Prints one JSON document:
{"unauthenticated": {...}, "tools": [...], "kinds": [...], "created": {...}, "final": {...},
"sound": {...}, "again": {...}, "made": {kind: status}, "errors": {"invalid": code, "blocked": code},
"keyless": message}. Every create sends a new `idempotency_key`; `again` repeats the first
create's call with its key (a retry), which must answer the same task.
"""

import asyncio
import json
import os
import sys

import uuid

import httpx2
from mcp import ClientSession
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    handle_protected_resource_response,
)
from mcp.client.streamable_http import streamable_http_client


async def unauthenticated(url: str) -> dict:
    """A tools/list without a token: the status, the challenge's metadata URL, and the metadata
    found through the SDK's discovery order."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx2.AsyncClient(timeout=30) as http:
        challenged = await http.post(url, json=body, headers=headers)
        metadata_url = extract_resource_metadata_from_www_auth(challenged)
        found = None
        for candidate in build_protected_resource_metadata_discovery_urls(metadata_url, url):
            found = await handle_protected_resource_response(await http.get(candidate))
            if found is not None:
                break
    return {"status": challenged.status_code, "metadata_url": metadata_url,
            "resource": str(found.resource) if found else None,
            "authorization_servers": [str(s) for s in found.authorization_servers] if found else None}


def create(request: dict, key: str | None = None) -> dict:
    """create_video's arguments: a new idempotency key for each video meant."""
    return {"request": request, "idempotency_key": key or str(uuid.uuid4())}


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


async def upload(http, api: str, path: str, content_type: str) -> dict:
    """A presigned PUT, as an app uploads a file."""
    data = open(path, "rb").read()
    grant = (await http.post(f"{api}/v1/uploads", json={"content_type": content_type, "bytes": len(data)})).json()
    # The presigned URL is the only credential the storage takes: no bearer token on the PUT.
    async with httpx2.AsyncClient(timeout=60) as plain:
        put = await plain.put(grant["url"], content=data, headers={"content-type": content_type})
    put.raise_for_status()
    return {"upload_id": grant["upload_id"]}


async def every_other_kind(session, http, api: str, files: list) -> dict:
    """Each kind made from uploads, through create_video; the status each ends in."""
    photo = await upload(http, api, files[0], "image/png")
    video = await upload(http, api, files[1], "video/mp4")
    voice = await upload(http, api, files[2], "audio/wav")
    bodies = {
        "image_to_video": {"type": "image_to_video", "image": photo, "rights_confirmed": True,
                           "prompt": "the harbour lights come on", "duration": 5},
        "effect": {"type": "effect", "scene": "pet_lion_pro", "image": photo, "rights_confirmed": True},
        "motion_control": {"type": "motion_control", "image": photo, "source": video, "rights_confirmed": True},
        "avatar": {"type": "avatar", "image": photo, "voice": voice, "rights_confirmed": True},
        "lip_sync": {"type": "lip_sync", "source": video, "voice": voice, "rights_confirmed": True},
        "omni_edit": {"type": "omni_edit", "source": video, "prompt": "make it snow on @video_1",
                      "image": photo, "rights_confirmed": True},
    }
    only = os.environ.get("MCP_KINDS")
    made = {}
    for kind, body in bodies.items():
        if only and kind not in only.split(","):
            continue
        created = answer(await session.call_tool("create_video", create(body)))
        if created["status"] != 202:
            made[kind] = created["body"]["error"]["code"]
            continue
        made[kind] = (await follow(session, created))["body"].get("status", created["body"])
    return made


async def run(url: str, token: str, files: list) -> dict:
    anonymous = await unauthenticated(url)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                listed = (await session.list_tools()).tools
                tools = [t.name for t in listed]
                request = {"type": "text_to_video", "prompt": "a lighthouse in a storm, waves crashing", "duration": 5}
                first = create(request)
                created = answer(await session.call_tool("create_video", first))
                again = answer(await session.call_tool("create_video", first))
                final = await follow(session, created)
                try:
                    await session.call_tool("create_video", {"request": request})
                    keyless = None
                except Exception as e:  # the server's invalid-params error, however the SDK raises it
                    keyless = str(e)
                sound = {"type": "video_to_audio", "source": {"video_id": created["body"]["id"]},
                         "prompt": "wind and breaking waves"}
                if not os.environ.get("MCP_KINDS"):
                    sound = await follow(session, answer(await session.call_tool("create_video", create(sound))))
                api = url.rsplit("/mcp", 1)[0]
                made = await every_other_kind(session, http, api, files) if files else {}
                errors = {}
                for name, body in {
                    "invalid": {"type": "text_to_video", "prompt": "long " * 600, "duration": 5},
                    "blocked": {"type": "text_to_video", "prompt": "a graphic beheading in close-up", "duration": 5},
                }.items():
                    result = await session.call_tool("create_video", create(body))
                    errors[name] = {"is_error": result.is_error, "code": answer(result)["body"]["error"]["code"]}
    return {"unauthenticated": anonymous, "tools": tools, "kinds": kinds(listed), "created": created,
            "again": again, "final": final, "sound": sound, "made": made, "errors": errors,
            "keyless": keyless}


if __name__ == "__main__":
    if len(sys.argv) not in (3, 6):
        sys.exit(__doc__)
    print(json.dumps(asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3:]))))
