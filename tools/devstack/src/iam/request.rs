//! What an AWS request asks IAM for: who signed it, and each (action, resource, partition keys)
//! it needs allowed. A transaction needs one per item; a batch write needs the single action.

use serde_json::Value;

use super::intrinsics::{ACCOUNT, REGION};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// `service:Action`, as a policy names it.
    pub action: String,
    pub resource: String,
    /// DynamoDB partition key values (`dynamodb:LeadingKeys`).
    pub leading_keys: Vec<String>,
}

/// The request as the proxy saw it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub target: Option<&'a str>,
    pub copy_source: Option<&'a str>,
    pub body: &'a [u8],
}

/// The access key and service of a SigV4 signature, from the header or a presigned URL.
pub fn signer(authorization: Option<&str>, query: &str) -> Option<(String, String)> {
    let credential = match authorization {
        Some(auth) => auth
            .split("Credential=")
            .nth(1)?
            .split(',')
            .next()?
            .to_string(),
        None => url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.into_owned())?,
    };
    // KEY/date/region/service/aws4_request
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, _, _, service, _] => Some((key.to_string(), service.to_string())),
        _ => None,
    }
}

/// The calls `req` needs allowed, or why it cannot be read (which the check counts as denied).
pub fn calls(service: &str, req: &Request) -> Result<Vec<Call>, String> {
    match service {
        "dynamodb" => dynamodb(req),
        "s3" => s3(req),
        "sns" => sns(req),
        "sqs" | "secretsmanager" | "events" => json_service(service, req),
        other => Err(format!("no IAM reading for service {other}")),
    }
}

fn call(action: String, resource: String, leading_keys: Vec<String>) -> Call {
    Call {
        action,
        resource,
        leading_keys,
    }
}

fn json(req: &Request) -> Result<Value, String> {
    serde_json::from_slice(req.body).map_err(|e| format!("body: {e}"))
}

fn operation<'a>(req: &Request<'a>) -> Result<&'a str, String> {
    req.target
        .and_then(|t| t.rsplit('.').next())
        .ok_or_else(|| "no X-Amz-Target".to_string())
}

fn table_arn(table: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}")
}

/// The partition key of an item or key map (the table's is `pk`).
fn pk(item: &Value) -> Vec<String> {
    item.get("pk")
        .and_then(|v| v.get("S"))
        .and_then(Value::as_str)
        .map(|s| vec![s.to_string()])
        .unwrap_or_default()
}

fn dynamodb(req: &Request) -> Result<Vec<Call>, String> {
    let op = operation(req)?;
    let body = json(req)?;
    match op {
        "TransactWriteItems" | "TransactGetItems" => transaction(&body),
        "BatchGetItem" | "BatchWriteItem" => batch(op, &body),
        _ => {
            let table = body["TableName"].as_str().ok_or("no TableName")?;
            let mut resource = table_arn(table);
            if let Some(index) = body["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            let keys = match op {
                "PutItem" => pk(&body["Item"]),
                "Query" => query_key(&body),
                _ => pk(&body["Key"]),
            };
            Ok(vec![call(format!("dynamodb:{op}"), resource, keys)])
        }
    }
}

/// Each item of a transaction is authorised as its own action.
fn transaction(body: &Value) -> Result<Vec<Call>, String> {
    let items = body["TransactItems"].as_array().ok_or("no TransactItems")?;
    let mut out = Vec::new();
    for item in items {
        let (kind, part) = item
            .as_object()
            .and_then(|o| o.iter().next())
            .ok_or("empty transaction item")?;
        let action = match kind.as_str() {
            "Put" => "PutItem",
            "Update" => "UpdateItem",
            "Delete" => "DeleteItem",
            "ConditionCheck" => "ConditionCheckItem",
            "Get" => "GetItem",
            other => return Err(format!("transaction item {other}")),
        };
        let table = part["TableName"].as_str().ok_or("no TableName")?;
        let keys = if kind == "Put" {
            pk(&part["Item"])
        } else {
            pk(&part["Key"])
        };
        out.push(call(format!("dynamodb:{action}"), table_arn(table), keys));
    }
    Ok(out)
}

fn batch(op: &str, body: &Value) -> Result<Vec<Call>, String> {
    let tables = body["RequestItems"].as_object().ok_or("no RequestItems")?;
    let mut out = Vec::new();
    for (table, request) in tables {
        let keys = match request["Keys"].as_array() {
            Some(keys) => keys.iter().flat_map(pk).collect(),
            None => request
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|w| {
                    let put = pk(&w["PutRequest"]["Item"]);
                    if put.is_empty() {
                        pk(&w["DeleteRequest"]["Key"])
                    } else {
                        put
                    }
                })
                .collect(),
        };
        out.push(call(format!("dynamodb:{op}"), table_arn(table), keys));
    }
    Ok(out)
}

/// The partition key value a query names: the value its `pk = :v` condition compares with.
/// (On an index the condition key is the index's partition key, e.g. `gsi1pk`.)
fn query_key(body: &Value) -> Vec<String> {
    let expr = body["KeyConditionExpression"].as_str().unwrap_or_default();
    let names = &body["ExpressionAttributeNames"];
    for clause in expr.split(" AND ").chain(expr.split(" and ")) {
        let Some((name, value)) = clause.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let name = names[name].as_str().unwrap_or(name);
        if name.ends_with("pk") {
            let value = &body["ExpressionAttributeValues"][value.trim()]["S"];
            return value
                .as_str()
                .map(|s| vec![s.to_string()])
                .unwrap_or_default();
        }
    }
    Vec::new()
}

fn s3(req: &Request) -> Result<Vec<Call>, String> {
    let path = percent_encoding::percent_decode_str(req.path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|e| e.to_string())?;
    let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
    let has =
        |name: &str| url::form_urlencoded::parse(req.query.as_bytes()).any(|(k, _)| k == name);
    let object = format!("arn:aws:s3:::{bucket}/{key}");
    // A browser's CORS preflight before a presigned upload: answered by the bucket's CORS
    // rules, authorised by no one.
    if req.method == "OPTIONS" {
        return Ok(Vec::new());
    }
    if key.is_empty() {
        return match req.method {
            "GET" => Ok(vec![call(
                "s3:ListBucket".into(),
                format!("arn:aws:s3:::{bucket}"),
                vec![],
            )]),
            m => Err(format!("S3 bucket request {m} /{bucket}")),
        };
    }
    let action = match (req.method, has("uploadId")) {
        ("GET", true) => "s3:ListMultipartUploadParts",
        ("GET" | "HEAD", false) => "s3:GetObject",
        ("PUT" | "POST", _) => "s3:PutObject",
        ("DELETE", true) => "s3:AbortMultipartUpload",
        ("DELETE", false) => "s3:DeleteObject",
        (m, _) => return Err(format!("S3 object request {m}")),
    };
    let mut out = vec![call(action.into(), object, vec![])];
    if let Some(source) = req.copy_source {
        let source = percent_encoding::percent_decode_str(source.trim_start_matches('/'))
            .decode_utf8_lossy()
            .into_owned();
        out.push(call(
            "s3:GetObject".into(),
            format!("arn:aws:s3:::{source}"),
            vec![],
        ));
    }
    Ok(out)
}

/// SNS speaks the query protocol: `Action=…` and the ARN it acts on in the form.
fn sns(req: &Request) -> Result<Vec<Call>, String> {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.body).into_owned().collect();
    let action = form.get("Action").ok_or("no Action")?;
    let resource = [
        "TargetArn",
        "TopicArn",
        "EndpointArn",
        "PlatformApplicationArn",
    ]
    .iter()
    .find_map(|k| form.get(*k))
    .ok_or_else(|| format!("sns:{action} names no ARN"))?;
    Ok(vec![call(
        format!("sns:{action}"),
        resource.clone(),
        vec![],
    )])
}

/// SQS, Secrets Manager and EventBridge: JSON bodies; batch calls need the single action.
fn json_service(service: &str, req: &Request) -> Result<Vec<Call>, String> {
    let op = operation(req)?;
    let body = json(req)?;
    let action = op.strip_suffix("Batch").unwrap_or(op);
    let resources = match service {
        "sqs" => {
            let url = body["QueueUrl"].as_str().ok_or("no QueueUrl")?;
            let name = url.rsplit('/').next().unwrap_or(url);
            vec![format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
        }
        "secretsmanager" => {
            let id = body["SecretId"].as_str().ok_or("no SecretId")?;
            vec![secret_arn(id)]
        }
        _ => body["Entries"]
            .as_array()
            .ok_or("no Entries")?
            .iter()
            .map(|e| bus_arn(e["EventBusName"].as_str().unwrap_or("default")))
            .collect(),
    };
    Ok(resources
        .into_iter()
        .map(|r| call(format!("{service}:{action}"), r, vec![]))
        .collect())
}

/// A secret named by name gets the ARN AWS would give it (six characters appended).
fn secret_arn(id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_string()
    } else {
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{id}-AbCdEf")
    }
}

fn bus_arn(name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        target: Option<&'a str>,
        body: &'a str,
    ) -> Request<'a> {
        Request {
            method,
            path,
            query,
            target,
            copy_source: None,
            body: body.as_bytes(),
        }
    }

    fn one(c: &[Call]) -> (String, String, Vec<String>) {
        assert_eq!(c.len(), 1, "{c:?}");
        (
            c[0].action.clone(),
            c[0].resource.clone(),
            c[0].leading_keys.clone(),
        )
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/TasksTable";

    #[test]
    fn signer_from_header_and_presigned_url() {
        let auth = "AWS4-HMAC-SHA256 Credential=local-fn-devices/20261205/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=ab";
        assert_eq!(
            signer(Some(auth), ""),
            Some(("local-fn-devices".into(), "sns".into()))
        );
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local-fn-status-query%2F20261205%2Fus-east-1%2Fs3%2Faws4_request";
        assert_eq!(
            signer(None, q),
            Some(("local-fn-status-query".into(), "s3".into()))
        );
        assert_eq!(signer(None, "a=b"), None);
        assert_eq!(signer(Some("Bearer x"), ""), None);
    }

    #[test]
    fn dynamodb_calls_name_table_index_and_partition_keys() {
        let t = Some("DynamoDB_20120810.PutItem");
        let body = r#"{"TableName":"TasksTable","Item":{"pk":{"S":"TASK#1"},"sk":{"S":"TASK"}}}"#;
        assert_eq!(
            one(&calls("dynamodb", &req("POST", "/", "", t, body)).unwrap()),
            (
                "dynamodb:PutItem".into(),
                TABLE.into(),
                vec!["TASK#1".into()]
            )
        );
        let body = r##"{"TableName":"TasksTable","IndexName":"gsi1","KeyConditionExpression":"#p = :p AND gsi1sk > :s","ExpressionAttributeNames":{"#p":"gsi1pk"},"ExpressionAttributeValues":{":p":{"S":"USER#u"},":s":{"S":"0"}}}"##;
        assert_eq!(
            one(&calls(
                "dynamodb",
                &req("POST", "/", "", Some("DynamoDB_20120810.Query"), body)
            )
            .unwrap()),
            (
                "dynamodb:Query".into(),
                format!("{TABLE}/index/gsi1"),
                vec!["USER#u".into()]
            )
        );
        let body = r#"{"TransactItems":[{"Put":{"TableName":"TasksTable","Item":{"pk":{"S":"TASK#1"}}}},{"ConditionCheck":{"TableName":"TasksTable","Key":{"pk":{"S":"ACCOUNT#u"}}}}]}"#;
        let c = calls(
            "dynamodb",
            &req(
                "POST",
                "/",
                "",
                Some("DynamoDB_20120810.TransactWriteItems"),
                body,
            ),
        )
        .unwrap();
        assert_eq!(
            c.iter()
                .map(|c| (c.action.as_str(), c.leading_keys[0].as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("dynamodb:PutItem", "TASK#1"),
                ("dynamodb:ConditionCheckItem", "ACCOUNT#u")
            ]
        );
        let body =
            r#"{"RequestItems":{"TasksTable":{"Keys":[{"pk":{"S":"A#1"}},{"pk":{"S":"B#2"}}]}}}"#;
        assert_eq!(
            one(&calls(
                "dynamodb",
                &req(
                    "POST",
                    "/",
                    "",
                    Some("DynamoDB_20120810.BatchGetItem"),
                    body
                )
            )
            .unwrap()),
            (
                "dynamodb:BatchGetItem".into(),
                TABLE.into(),
                vec!["A#1".into(), "B#2".into()]
            )
        );
        assert!(calls("dynamodb", &req("POST", "/", "", None, "{}")).is_err());
    }

    #[test]
    fn s3_requests_map_to_object_actions() {
        for (method, query, want) in [
            ("GET", "", "s3:GetObject"),
            ("HEAD", "", "s3:GetObject"),
            ("PUT", "", "s3:PutObject"),
            ("POST", "uploads", "s3:PutObject"),
            ("PUT", "partNumber=1&uploadId=x", "s3:PutObject"),
            ("POST", "uploadId=x", "s3:PutObject"),
            ("DELETE", "uploadId=x", "s3:AbortMultipartUpload"),
            ("DELETE", "", "s3:DeleteObject"),
        ] {
            let c = calls(
                "s3",
                &req(
                    method,
                    "/local-videobucket/videos/u%231/t.mp4",
                    query,
                    None,
                    "",
                ),
            )
            .unwrap();
            assert_eq!(
                one(&c),
                (
                    want.into(),
                    "arn:aws:s3:::local-videobucket/videos/u#1/t.mp4".into(),
                    vec![]
                ),
                "{method} {query}"
            );
        }
        let preflight = req(
            "OPTIONS",
            "/local-videobucket/uploads/u/x",
            "X-Amz-Credential=k",
            None,
            "",
        );
        assert!(calls("s3", &preflight).unwrap().is_empty());
        let c = calls(
            "s3",
            &req("GET", "/local-videobucket", "list-type=2", None, ""),
        )
        .unwrap();
        assert_eq!(one(&c).0, "s3:ListBucket");
        assert!(calls("s3", &req("DELETE", "/local-videobucket", "", None, "")).is_err());
    }

    #[test]
    fn sns_sqs_secrets_and_events() {
        let body = "Action=SetEndpointAttributes&EndpointArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aendpoint%2FAPNS%2Flocal-apns%2Fe1&Attributes.entry.1.key=Enabled";
        assert_eq!(
            one(&calls("sns", &req("POST", "/", "", None, body)).unwrap()).0,
            "sns:SetEndpointAttributes"
        );
        assert_eq!(
            one(&calls("sns", &req("POST", "/", "", None, body)).unwrap()).1,
            "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/local-apns/e1"
        );
        let body = r#"{"QueueUrl":"http://127.0.0.1:1/123456789012/FinalizeQueue","Entries":[]}"#;
        assert_eq!(
            one(&calls(
                "sqs",
                &req("POST", "/", "", Some("AmazonSQS.SendMessageBatch"), body)
            )
            .unwrap()),
            (
                "sqs:SendMessage".into(),
                "arn:aws:sqs:us-east-1:123456789012:FinalizeQueue".into(),
                vec![]
            )
        );
        let body = r#"{"SecretId":"kling"}"#;
        assert_eq!(
            one(&calls(
                "secretsmanager",
                &req("POST", "/", "", Some("secretsmanager.GetSecretValue"), body)
            )
            .unwrap())
            .1,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:kling-AbCdEf"
        );
        let body = r#"{"Entries":[{"EventBusName":"VideoEventBus"}]}"#;
        assert_eq!(
            one(&calls(
                "events",
                &req("POST", "/", "", Some("AWSEvents.PutEvents"), body)
            )
            .unwrap())
            .1,
            "arn:aws:events:us-east-1:123456789012:event-bus/VideoEventBus"
        );
        assert!(calls("kms", &req("POST", "/", "", None, "")).is_err());
    }
}
