//! Creates the table, buckets and queues that the template declares, in moto.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;

use crate::DevError;
use crate::template::{Reference, Template, reference};

/// What `!Ref` and `!GetAtt` mean locally, per logical id.
#[derive(Debug, Default, Clone)]
pub struct LocalResources {
    /// `!Ref X`: table name, bucket name, queue URL.
    pub refs: HashMap<String, String>,
    /// `!GetAtt X.Arn`.
    pub arns: HashMap<String, String>,
    /// `!GetAtt X.StreamArn` (tables with a stream).
    pub stream_arns: HashMap<String, String>,
    /// `!Ref Parameter`: the template's defaults.
    pub parameters: HashMap<String, String>,
    /// Values the stack made for deploy-time settings, by variable (the SNS platform
    /// applications, made in moto).
    pub settings: HashMap<String, String>,
}

impl LocalResources {
    pub fn resolve(&self, v: &Value) -> Option<String> {
        match reference(v) {
            Reference::Ref(id) => self
                .refs
                .get(&id)
                .or_else(|| self.parameters.get(&id))
                .cloned(),
            Reference::GetAtt(id, attr) if attr == "StreamArn" => {
                self.stream_arns.get(&id).cloned()
            }
            Reference::GetAtt(id, attr) if attr == "Arn" => self.arns.get(&id).cloned(),
            Reference::GetAtt(id, attr) if attr == "QueueName" => self
                .refs
                .get(&id)
                .and_then(|url| url.rsplit('/').next().map(str::to_string)),
            _ => None,
        }
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> DevError {
    DevError::Resources(format!("{what}: {e}"))
}

fn strs(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(s)) => s.iter().collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, DevError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| DevError::Template(format!("missing {name}")))
}

fn key_schema(v: Option<&Value>) -> Result<Vec<KeySchemaElement>, DevError> {
    strs(v)
        .into_iter()
        .map(|k| {
            let key_type = match field(k, "KeyType")? {
                "HASH" => KeyType::Hash,
                _ => KeyType::Range,
            };
            KeySchemaElement::builder()
                .attribute_name(field(k, "AttributeName")?)
                .key_type(key_type)
                .build()
                .map_err(|e| err("key schema", e))
        })
        .collect()
}

pub async fn create_all(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    queue_visibility_override: Option<u32>,
) -> Result<LocalResources, DevError> {
    let mut local = LocalResources {
        parameters: template.parameter_defaults().into_iter().collect(),
        ..Default::default()
    };
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    for (id, props) in template.resources_of_type("AWS::DynamoDB::Table") {
        if let Some(stream) = create_table(&ddb, &id, props).await? {
            local.stream_arns.insert(id.clone(), stream);
        }
        local.refs.insert(id.clone(), id.clone());
        local.arns.insert(
            id.clone(),
            format!("arn:aws:dynamodb:us-east-1:123456789012:table/{id}"),
        );
    }

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    for (id, _) in template.resources_of_type("AWS::S3::Bucket") {
        let name = format!("local-{}", id.to_lowercase());
        s3.create_bucket().bucket(&name).send().await.map_err(|e| {
            err(
                &format!("bucket {name}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })?;
        local
            .arns
            .insert(id.clone(), format!("arn:aws:s3:::{name}"));
        local.refs.insert(id, name);
    }

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues = template.resources_of_type("AWS::SQS::Queue");
    // Dead-letter queues first, so a redrive policy can name them.
    queues.sort_by_key(|(_, props)| props.get("RedrivePolicy").is_some());
    for (id, props) in queues {
        let mut create = sqs.create_queue().queue_name(&id);
        let visibility = queue_visibility_override
            .map(|v| v.to_string())
            .or_else(|| {
                props
                    .get("VisibilityTimeout")
                    .and_then(|v| v.as_u64())
                    .map(|v| v.to_string())
            });
        if let Some(v) = visibility {
            create = create.attributes(QueueAttributeName::VisibilityTimeout, v);
        }
        if let Some(redrive) = props.get("RedrivePolicy") {
            let target = redrive
                .get("deadLetterTargetArn")
                .and_then(|v| local.resolve(v))
                .ok_or_else(|| {
                    DevError::Template(format!("{id}: unresolvable deadLetterTargetArn"))
                })?;
            let max = redrive
                .get("maxReceiveCount")
                .and_then(Value::as_u64)
                .unwrap_or(5);
            let policy = serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max.to_string()});
            create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let out = create.send().await.map_err(|e| {
            err(
                &format!("queue {id}"),
                aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        })?;
        let url = out
            .queue_url
            .ok_or_else(|| err("queue", "no URL returned"))?;
        local.arns.insert(
            id.clone(),
            format!("arn:aws:sqs:us-east-1:123456789012:{id}"),
        );
        local.refs.insert(id, url);
    }
    create_buses(template, sdk, &mut local).await?;
    local.settings = create_platform_apps(sdk).await?;
    // The template names them by parameter (its policies scope SNS to them).
    for (var, param) in PLATFORM_PARAMETERS {
        if let Some(arn) = local.settings.get(var) {
            local.parameters.insert(param.to_string(), arn.clone());
        }
    }
    Ok(local)
}

async fn create_buses(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    local: &mut LocalResources,
) -> Result<(), DevError> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    for (id, _) in template.resources_of_type("AWS::Events::EventBus") {
        let out = events
            .create_event_bus()
            .name(&id)
            .send()
            .await
            .map_err(|e| {
                err(
                    &format!("event bus {id}"),
                    aws_sdk_eventbridge::error::DisplayErrorContext(e),
                )
            })?;
        let arn = out.event_bus_arn.unwrap_or_default();
        local.arns.insert(id.clone(), arn);
        local.refs.insert(id.clone(), id);
    }
    Ok(())
}

const PLATFORM_PARAMETERS: [(&str, &str); 3] = [
    (
        "APNS_PLATFORM_APPLICATION_ARN",
        "ApnsPlatformApplicationArn",
    ),
    (
        "APNS_SANDBOX_PLATFORM_APPLICATION_ARN",
        "ApnsSandboxPlatformApplicationArn",
    ),
    ("FCM_PLATFORM_APPLICATION_ARN", "FcmPlatformApplicationArn"),
];

/// SNS platform applications for the push settings (deploy-time parameters in AWS).
async fn create_platform_apps(
    sdk: &aws_config::SdkConfig,
) -> Result<HashMap<String, String>, DevError> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let mut settings = HashMap::new();
    for (var, name, platform) in [
        ("APNS_PLATFORM_APPLICATION_ARN", "local-apns", "APNS"),
        (
            "APNS_SANDBOX_PLATFORM_APPLICATION_ARN",
            "local-apns-sandbox",
            "APNS_SANDBOX",
        ),
        ("FCM_PLATFORM_APPLICATION_ARN", "local-fcm", "GCM"),
    ] {
        let out = sns
            .create_platform_application()
            .name(name)
            .platform(platform)
            .attributes("PlatformCredential", "local-dummy-credential")
            .send()
            .await
            .map_err(|e| err(name, aws_sdk_sns::error::DisplayErrorContext(e)))?;
        settings.insert(
            var.to_string(),
            out.platform_application_arn.unwrap_or_default(),
        );
    }
    Ok(settings)
}

/// An index's projection as the template declares it (ALL when it says nothing).
fn projection(p: Option<&Value>) -> Projection {
    let ty = p
        .and_then(|p| p.get("ProjectionType"))
        .and_then(Value::as_str);
    let attrs: Vec<String> = strs(p.and_then(|p| p.get("NonKeyAttributes")))
        .iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    Projection::builder()
        .projection_type(ty.map_or(ProjectionType::All, ProjectionType::from))
        .set_non_key_attributes((!attrs.is_empty()).then_some(attrs))
        .build()
}

/// The table as the template declares it; its stream's ARN, when it has one.
async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    id: &str,
    props: &Value,
) -> Result<Option<String>, DevError> {
    let mut create = ddb
        .create_table()
        .table_name(id)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(props.get("KeySchema"))?));
    for a in strs(props.get("AttributeDefinitions")) {
        let ty = match field(a, "AttributeType")? {
            "N" => ScalarAttributeType::N,
            "B" => ScalarAttributeType::B,
            _ => ScalarAttributeType::S,
        };
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(field(a, "AttributeName")?)
                .attribute_type(ty)
                .build()
                .map_err(|e| err("attribute", e))?,
        );
    }
    for g in strs(props.get("GlobalSecondaryIndexes")) {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(field(g, "IndexName")?)
                .set_key_schema(Some(key_schema(g.get("KeySchema"))?))
                .projection(projection(g.get("Projection")))
                .build()
                .map_err(|e| err("index", e))?,
        );
    }
    if let Some(view) = props
        .get("StreamSpecification")
        .and_then(|s| s.get("StreamViewType"))
        .and_then(Value::as_str)
    {
        create = create.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view.into())
                .build()
                .map_err(|e| err("stream", e))?,
        );
    }
    let created = create.send().await.map_err(|e| {
        err(
            &format!("table {id}"),
            aws_sdk_dynamodb::error::DisplayErrorContext(e),
        )
    })?;
    let stream = created.table_description.and_then(|t| t.latest_stream_arn);
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        ddb.update_time_to_live()
            .table_name(id)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(field(ttl, "AttributeName")?)
                    .enabled(true)
                    .build()
                    .map_err(|e| err("ttl", e))?,
            )
            .send()
            .await
            .map_err(|e| err("ttl", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    Ok(stream)
}
