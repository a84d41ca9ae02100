"""Seed each fuzz target's corpus (fuzz/corpus/<target>, not committed) from the sample
events and test fixtures, so the fuzzer starts from inputs the functions really see."""

import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def body(event):
    return json.loads((ROOT / event).read_text()).get("body", "")


for ev in sorted((ROOT / "events" / "webhook-receiver").glob("*.json")):
    put("callback_kling", ev.stem, body(ev))
for ev in sorted((ROOT / "events" / "create-task").glob("create-video*.json")):
    put("create_body", ev.stem, body(ev) or "{}")
cursor = {"pk": "TASK#01", "sk": "TASK", "gsi1pk": "USER#alice", "gsi1sk": "2026-11-26T00:00:00Z#01"}
put("cursor", "valid", base64.urlsafe_b64encode(json.dumps(cursor).encode()).rstrip(b"="))
put("cursor", "other-user", base64.urlsafe_b64encode(json.dumps({**cursor, "gsi1pk": "USER#bob"}).encode()).rstrip(b"="))
for mp4 in sorted((ROOT / "tools" / "provider-sim" / "assets").glob("gop-720p-*.mp4")):
    put("mp4_boxes", mp4.stem, bytes([97]) + mp4.read_bytes())
for img in sorted((ROOT / "tools" / "e2e" / "tests" / "fixtures").iterdir()):
    put("image_header", img.name, img.read_bytes()[:4096])
for found in sorted((ROOT / "fuzz" / "regressions").glob("*/*")):
    put(found.parent.name, f"regression-{found.name}", found.read_bytes())
print(f"seeded {sum(1 for _ in CORPUS.rglob('seed-*'))} inputs under {CORPUS}")
