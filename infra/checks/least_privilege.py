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
    # notify's stream: Describe/GetRecords/GetShardIterator/ListStreams, which the event source
    # mapping needs (stream ARNs change with each table re-creation).
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
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


def sub_text(value):
    """The text of a resource: plain, or the template string of a !Sub."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
        value = value[0] if isinstance(value, list) else value
    return str(value)


def public_roles(template):
    """Roles of functions reachable without authentication (an HttpApi event with no authorizer)."""
    roles = set()
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in res.get("Properties", {}).get("Events", {}).values():
            auth = event.get("Properties", {}).get("Auth", {})
            if event.get("Type") == "HttpApi" and auth.get("Authorizer") == "NONE":
                roles.add(f"{name}Role")
    return roles


def statement_problems(name, st, public):
    """Findings for one Allow statement of role (or policy) `name`."""
    problems = []
    actions = as_list(st.get("Action", []))
    resources = as_list(st.get("Resource", []))
    for action in actions:
        if action == "*" or str(action).endswith(":*"):
            problems.append(f"{name}: wildcard action {action}")
    for resource in resources:
        if resource == "*" and not all(a in ALLOWED_WILDCARD_RESOURCES for a in actions):
            problems.append(f"{name}: resource * for {actions}")
        # Secrets Manager appends "-" and six characters; "-*" also matches longer names.
        arn = sub_text(resource)
        if ":sns:" in arn and (arn.endswith(":app/*") or arn.endswith(":endpoint/*")):
            problems.append(f"{name}: SNS ARN {arn} is not scoped to the configured platform applications")
        if ":secretsmanager:" in arn and arn.endswith("-*"):
            problems.append(f"{name}: secret ARN {resource} ends in -* (use -??????)")
    table_actions = [a for a in actions if str(a).startswith("dynamodb:")]
    leading = st.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
    narrowed = leading and "*" not in as_list(leading)
    on_table = any("/index/" not in sub_text(r) for r in resources)
    if table_actions and on_table and not narrowed:
        who = "public entry point" if public else "role"
        problems.append(f"{name}: {who} has {table_actions} without a dynamodb:LeadingKeys restriction")
    return problems


def statements(doc):
    """A policy's statements; one present under a condition (`Fn::If`) counts with both branches."""
    out = []
    for st in as_list(doc.get("Statement", [])):
        if isinstance(st, dict) and "Fn::If" in st:
            out.extend(b for b in st["Fn::If"][1:] if isinstance(b, dict) and "Effect" in b)
        else:
            out.append(st)
    return out


def findings(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template, errors = decode(path)
    if errors:
        return [f"cannot read {path}: {errors}"]
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key.zip"
    public = public_roles(template)
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
            for st in statements(doc):
                if st.get("Effect") != "Allow":
                    continue
                problems.extend(statement_problems(name, st, name in public))
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
