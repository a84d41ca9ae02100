"""Least-privilege check over every IAM statement of the transformed (SAM -> CloudFormation)
template: no wildcard action, no wildcard resource where a narrower one exists.

Run: python3 infra/checks/least_privilege.py [template]  (exit 1 on any finding)
"""

import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

# Statements SAM adds itself, with resources AWS does not allow to narrow.
ALLOWED_WILDCARD_RESOURCES = {
    # X-Ray trace submission has no resource-level permissions.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
}
# AWS managed policies SAM attaches; each is reviewed here by name.
ALLOWED_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


class _NoManagedPolicies:
    def load(self):
        return {}


def as_list(value):
    return value if isinstance(value, list) else [value]


def managed_name(arn):
    if isinstance(arn, dict) and "Fn::Sub" in arn:
        arn = arn["Fn::Sub"]
    return str(arn).replace("${AWS::Partition}", "aws")


def findings(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template, errors = decode(path)
    if errors:
        return [f"cannot read {path}: {errors}"]
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key.zip"
    out = transform(template, {}, _NoManagedPolicies())
    problems = []
    roles = 0
    for name, res in out["Resources"].items():
        if res["Type"] not in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        roles += 1
        props = res["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            if managed_name(arn) not in ALLOWED_MANAGED:
                problems.append(f"{name}: managed policy {managed_name(arn)} is not reviewed")
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            docs.append(props["PolicyDocument"])
        for doc in docs:
            for st in as_list(doc.get("Statement", [])):
                if st.get("Effect") != "Allow":
                    continue
                actions = as_list(st.get("Action", []))
                for action in actions:
                    if action == "*" or str(action).endswith(":*"):
                        problems.append(f"{name}: wildcard action {action}")
                for resource in as_list(st.get("Resource", [])):
                    if resource == "*" and not all(a in ALLOWED_WILDCARD_RESOURCES for a in actions):
                        problems.append(f"{name}: resource * for {actions}")
    if roles == 0:
        problems.append("no IAM roles found: the check saw nothing")
    return problems


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    problems = findings(path)
    for p in problems:
        print(f"least-privilege: {p}")
    if problems:
        sys.exit(1)
    print(f"least-privilege: every IAM statement in {path} is narrow")


if __name__ == "__main__":
    main()
