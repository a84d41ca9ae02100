"""The least-privilege check must catch what it claims to: a wildcard action, a wildcard
resource, a secret ARN ending in -*, an SNS ARN not scoped to the platform applications, and the public webhook entry point's table access without
a LeadingKeys restriction, each put into a copy of the template, are reported; the real
template is clean."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from least_privilege import findings  # noqa: E402

TEMPLATE = "infra/template.yaml"


def mutated(old, new):
    text = open(TEMPLATE).read()
    assert old in text, old
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text.replace(old, new, 1))
    return path


def main():
    assert findings(TEMPLATE) == [], findings(TEMPLATE)
    cases = [
        ("                - dynamodb:DeleteItem\n", "                - dynamodb:*\n", "wildcard action dynamodb:*"),
        ("              Action: sqs:SendMessage\n              Resource: !GetAtt FinalizeQueue.Arn\n",
         "              Action: sqs:SendMessage\n              Resource: \"*\"\n", "resource *"),
        ("${KlingSecretName}-??????", "${KlingSecretName}-*", "ends in -*"),
        ("                  - !If [HasFcm, !Ref FcmPlatformApplicationArn, !Ref AWS::NoValue]\n",
         "                  - !Sub arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:app/*\n",
         "not scoped to the configured platform applications"),
        ("                    - WEBHOOK#*\n", "                    - \"*\"\n", "LeadingKeys restriction"),
        # Every role's table statements are narrowed to their partition-key prefixes, not only the
        # public entry point's.
        ("                    - USER#*\n                    - DEVICE#*\n", "                    - \"*\"\n",
         ": role has"),
        ("              Condition:\n                ForAllValues:StringLike:\n                  dynamodb:LeadingKeys:\n                    - TASK#*\n",
         "", "LeadingKeys restriction"),
    ]
    for old, new, expected in cases:
        path = mutated(old, new)
        got = findings(path)
        os.unlink(path)
        assert any(expected in p for p in got), (expected, got)
        print(f"least-privilege self-test: caught {expected!r}: {got[0]}")


if __name__ == "__main__":
    main()
