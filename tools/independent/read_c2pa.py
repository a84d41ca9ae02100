"""Reads a stored video's C2PA manifest with the C2PA Python library (PyPI `c2pa-python`, its
own build of the C2PA SDK, not the crate finalize signs with).

    read_c2pa.py VIDEO TRUST_ANCHORS_PEM

Prints one JSON object: the validation state (Trusted / Valid / Invalid), the failure codes,
and what the active manifest says made the video (digital source type, software agent, task).
"""

import json
import sys

import c2pa


def created_action(manifest: dict) -> dict:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion["data"].get("actions", []):
                if action.get("action") == "c2pa.created":
                    return action
    return {}


def task_assertion(manifest: dict) -> dict:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == "com.kling-lambda.task":
            return assertion["data"]
    return {}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[2]) as f:
        anchors = f.read()
    settings = c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors}})
    context = c2pa.Context(settings=settings)
    with open(sys.argv[1], "rb") as video:
        try:
            reader = c2pa.Reader("video/mp4", video, context=context)
        except c2pa.C2paError as e:
            print(json.dumps({"validation_state": "None", "error": str(e)}))
            return
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    action = created_action(manifest)
    agent = action.get("softwareAgent", {})
    print(
        json.dumps(
            {
                "validation_state": store.get("validation_state"),
                "failures": [s["code"] for s in store.get("validation_status", [])],
                "digital_source_type": action.get("digitalSourceType"),
                "software_agent": agent.get("name") if isinstance(agent, dict) else agent,
                "model": agent.get("version") if isinstance(agent, dict) else None,
                "task": task_assertion(manifest),
                "claim_generator": manifest.get("claim_generator_info", [{}])[0].get("name"),
            }
        )
    )


if __name__ == "__main__":
    main()
