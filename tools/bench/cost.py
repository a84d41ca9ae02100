"""AWS cost per 1,000 videos, from list prices (infra/prices.json, dated and sourced), the
template's memory sizes, and what `make bench` measured (target/bench/*.json): each
function's warm duration and the AWS calls it made per invocation, and finalize's copy
throughput. Prints the figures and what each rests on; it never calls AWS.

usage: python tools/bench/cost.py [infra/prices.json] [target/bench]
"""

import json
import re
import sys
from pathlib import Path

DYNAMO_READS = {"GetItem", "Query", "BatchGetItem", "Scan"}
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
S3_OPS = {"GET", "HEAD", "PUT", "POST", "DELETE"}


def memory_sizes(template: str) -> dict:
    """MemorySize per function in infra/template.yaml (the Globals value by default)."""
    text = Path(template).read_text()
    default = int(re.search(r"Globals:.*?MemorySize:\s*(\d+)", text, re.S).group(1))
    sizes = {}
    for block in re.split(r"\n  (?=\w+Function:\n)", text):
        name = re.search(r"target/lambda/([\w-]+)/", block) or re.search(
            r"BuildTarget:\s*([\w-]+)", block
        )
        if name:
            size = re.search(r"\n      MemorySize:\s*(\d+)", block)
            sizes[name.group(1)] = int(size.group(1)) if size else default
    return sizes, default


def load(bench_dir: Path, name: str) -> dict:
    path = bench_dir / name
    if not path.exists():
        sys.exit(f"{path} is missing: run `make bench` first (it measures what this prices)")
    return json.loads(path.read_text())


def per_video_invocations(usage: dict) -> dict:
    return {
        "create-task": 1,
        "dispatch": 1,
        "webhook-receiver": usage["callbacks_per_video"],
        "finalize": 1,
        "status-query": usage["status_polls_per_video"],
    }


def aws_calls(lifecycle: dict, measured: dict, polls: int) -> dict:
    """AWS calls per video: one video's, create to stored (counted by make bench's finalize
    run), plus the status polls (status-query's calls per request, times the polls)."""
    calls = {op: float(n) for op, n in lifecycle["calls"].items()}
    for op, per in measured.get("status-query", {}).get("aws_calls", {}).items():
        calls[op] = calls.get(op, 0.0) + per * polls
    return calls


def lines_for(video: str, ctx: dict) -> list:
    p, usage, measured, memory = ctx["p"], ctx["usage"], ctx["measured"], ctx["memory"]
    inv = per_video_invocations(usage)
    mb = usage["video_mb"][video]
    gb_s = 0.0
    for fn, n in inv.items():
        ms = measured.get(fn, {}).get("warm_ms", 0.0)
        if fn == "finalize":
            ms += mb / ctx["copy_mib_s"] * 1000.0
        ms += usage["cold_start_share"] * measured.get(fn, {}).get("init_ms", 0.0)
        gb_s += n * ms / 1000.0 * memory.get(fn, ctx["default_memory"]) / 1024.0
    calls = aws_calls(ctx["lifecycle"], measured, usage["status_polls_per_video"])
    units = usage["dynamodb_units_per_call"]
    reads = sum(c * units.get(op, 1) for op, c in calls.items() if op in DYNAMO_READS)
    writes = sum(c * units.get(op, 1) for op, c in calls.items() if op in DYNAMO_WRITES)
    # The counted video's parts are replaced by this video's: one PUT per part.
    parts = -(-mb // ctx["lifecycle"].get("part_mib", 6))
    s3_put = calls.get("POST", 0.0) + parts
    s3_get = calls.get("GET", 0.0) + calls.get("HEAD", 0.0) + usage["downloads_per_video"]
    sqs = calls.get("SendMessage", 0.0) * usage["sqs_requests_per_message"]
    out_gb = mb / 1024.0 * usage["downloads_per_video"]
    n_inv = sum(inv.values())
    logs_gb = n_inv * usage["log_kb_per_invocation"] / 1e6
    return [
        ("Lambda duration (GB-s)", gb_s, gb_s * p["lambda_arm64_gb_second"]["usd"]),
        ("Lambda requests", n_inv, n_inv * p["lambda_request"]["usd"]),
        ("HTTP API requests", 1 + usage["status_polls_per_video"] + usage["callbacks_per_video"],
         (1 + usage["status_polls_per_video"] + usage["callbacks_per_video"]) * p["http_api_request"]["usd"]),
        ("DynamoDB read units", reads, reads * p["dynamodb_read_request_unit"]["usd"]),
        ("DynamoDB write units", writes, writes * p["dynamodb_write_request_unit"]["usd"]),
        ("S3 PUT-class requests", s3_put, s3_put * p["s3_put_request"]["usd"]),
        ("S3 GET-class requests", s3_get, s3_get * p["s3_get_request"]["usd"]),
        ("S3 storage, one month (GB)", mb / 1024.0, mb / 1024.0 * p["s3_standard_gb_month"]["usd"]),
        ("Delivery, internet out (GB)", out_gb, out_gb * p["s3_data_transfer_out_gb"]["usd"]),
        ("SQS requests", sqs, sqs * p["sqs_request"]["usd"]),
        ("CloudWatch Logs (GB)", logs_gb, logs_gb * p["cloudwatch_logs_ingested_gb"]["usd"]),
    ]


def main() -> None:
    prices_path = sys.argv[1] if len(sys.argv) > 1 else "infra/prices.json"
    bench_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "target/bench")
    doc = json.loads(Path(prices_path).read_text())
    memory, default = memory_sizes("infra/template.yaml")
    finalize = bench_dir / "finalize.json"
    copy = json.loads(finalize.read_text())["copy_mib_s"] if finalize.exists() else None
    ctx = {
        "p": doc["prices"],
        "usage": doc["usage"],
        "measured": load(bench_dir, "functions.json"),
        "lifecycle": load(bench_dir, "lifecycle.json"),
        "memory": memory,
        "default_memory": default,
        "copy_mib_s": copy or 50.0,
    }
    print(f"AWS cost per 1,000 videos ({doc['region']}, arm64, list prices checked {doc['checked']}; {prices_path})")
    print(f"  finalize copy {ctx['copy_mib_s']:.1f} MiB/s ({'measured by make bench' if copy else 'assumed: run make bench'})")
    rows = {v: lines_for(v, ctx) for v in doc["usage"]["video_mb"]}
    videos = list(rows)
    print(f"  {'':<28}" + "".join(f"{v + ' video':>22}" for v in videos))
    for i, (label, _, _) in enumerate(rows[videos[0]]):
        cells = "".join(f"{rows[v][i][1] * 1000:>12.1f} ${rows[v][i][2] * 1000:>8.4f}" for v in videos)
        print(f"  {label:<28}{cells}")
    totals = "".join(f"{'':>12} ${sum(r[2] for r in rows[v]) * 1000:>8.4f}" for v in videos)
    print(f"  {'total':<28}{totals}")
    sched = doc["usage"]["schedules_per_month"]
    fixed = sum(sched.values()) * doc["prices"]["lambda_request"]["usd"]
    print(f"  plus per month, whatever the volume: {sum(sched.values())} scheduled runs (${fixed:.4f} in requests)")
    print(f"  assumptions (infra/prices.json 'usage'): {doc['usage']['about']}")


if __name__ == "__main__":
    main()
