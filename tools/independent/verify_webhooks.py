"""Verifies app-webhook deliveries with the Standard Webhooks reference library (PyPI
`standardwebhooks`), an implementation independent of ours.

    verify_webhooks.py DELIVERIES_JSON SECRET [SECRET ...]

DELIVERIES_JSON is a list of {"headers": {...}, "body": "..."}; every delivery must verify with
every secret given (we sign with each active secret during a rotation). Prints one line per
delivery: its webhook-id and the event type.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        deliveries = json.load(f)
    for delivery in deliveries:
        for secret in sys.argv[2:]:
            # Raises WebhookVerificationError on a missing, stale or wrong signature.
            event = Webhook(secret).verify(delivery["body"], delivery["headers"])
        print(delivery["headers"]["webhook-id"], event["type"])


if __name__ == "__main__":
    main()
