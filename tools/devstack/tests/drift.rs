//! The template cannot drift from the code: the check passes on the real files, and each kind
//! of removal is caught.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use devstack::drift::{Expectations, check, required_env};
use devstack::template::Template;
use shared::runtime::config::ConfigError;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn expectations() -> Expectations {
    type Loader = fn(&HashMap<String, String>) -> Result<(), ConfigError>;
    let loaders: [(&str, Loader); 11] = [
        ("create-task", |e| {
            create_task::Settings::from_source(e).map(|_| ())
        }),
        ("webhook-receiver", |e| {
            webhook_receiver::Settings::from_source(e).map(|_| ())
        }),
        ("finalize", |e| {
            finalize::Settings::from_source(e).map(|_| ())
        }),
        ("status-query", |e| {
            status_query::Settings::from_source(e).map(|_| ())
        }),
        ("reconcile", |e| {
            reconcile::Settings::from_source(e).map(|_| ())
        }),
        ("dispatch", |e| {
            dispatch::Settings::from_source(e).map(|_| ())
        }),
        ("notify", |e| notify::Settings::from_source(e).map(|_| ())),
        ("devices", |e| devices::Settings::from_source(e).map(|_| ())),
        ("events", |e| events::Settings::from_source(e).map(|_| ())),
        ("mcp", |e| mcp::Settings::from_source(e).map(|_| ())),
        ("account", |e| account::Settings::from_source(e).map(|_| ())),
    ];
    let required_env: BTreeMap<String, BTreeSet<String>> = loaders
        .iter()
        .map(|(name, load)| (name.to_string(), required_env(load)))
        .collect();
    let functions = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    Expectations {
        functions,
        required_env,
        cargo_routes: devstack::routes::load(&root().join("Cargo.toml")).unwrap(),
    }
}

fn template_text() -> String {
    std::fs::read_to_string(root().join("infra/template.yaml")).unwrap()
}

#[test]
fn the_template_matches_the_code() {
    let exp = expectations();
    // The loaders really are asked: create-task cannot start without these.
    let create = &exp.required_env["create-task"];
    for name in [
        "TABLE_NAME",
        "VIDEO_BUCKET",
        "KLING_ACCESS_KEY",
        "WEBHOOK_SECRET",
    ] {
        assert!(create.contains(name), "{create:?}");
    }
    let problems = check(&Template::parse(&template_text()).unwrap(), &exp);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_kind_of_removal_is_caught() {
    let exp = expectations();
    let text = template_text();
    let mutations = [
        (
            "          DOWNLOAD_ALLOWED_HOSTS: !Ref DownloadAllowedHosts\n",
            "",
            "finalize: the code needs DOWNLOAD_ALLOWED_HOSTS",
        ),
        (
            "          FINALIZE_QUEUE_URL: !Ref FinalizeQueue\n      Policies:\n        # The public",
            "      Policies:\n        # The public",
            "webhook-receiver: the code needs FINALIZE_QUEUE_URL",
        ),
        (
            "          KLING_SECRET_ID: !Ref KlingSecretName\n          PROVIDER: !Ref Provider\n          PROVIDER_ACCOUNTS: !Ref ProviderAccounts\n          FAL_QUEUE_URL: !Ref FalQueueUrl\n          FAL_API_URL: !Ref FalApiUrl\n          FAL_SECRET_ID: !Ref FalSecretName\n          VIDEO_BUCKET: !Ref VideoBucket\n          DOWNLOAD_ALLOWED_HOSTS",
            "          PROVIDER: !Ref Provider\n          PROVIDER_ACCOUNTS: !Ref ProviderAccounts\n          FAL_QUEUE_URL: !Ref FalQueueUrl\n          FAL_API_URL: !Ref FalApiUrl\n          VIDEO_BUCKET: !Ref VideoBucket\n          DOWNLOAD_ALLOWED_HOSTS",
            "finalize: the code needs KLING_ACCESS_KEY",
        ),
        (
            "            Path: /v1/me\n            Method: GET\n",
            "            Path: /v1/me\n            Method: POST\n",
            "route GET /v1/me -> status-query is in Cargo.toml",
        ),
        (
            "        - IndexName: gsi2\n",
            "        - IndexName: gsi3\n",
            "index gsi2",
        ),
        (
            "        AttributeName: expires_at\n",
            "        AttributeName: ttl\n",
            "TTL on expires_at",
        ),
        (
            "finalize timeout, as Lambda's SQS integration advises.\n      VisibilityTimeout: 720\n",
            "finalize timeout, as Lambda's SQS integration advises.\n      VisibilityTimeout: 60\n",
            "visibility 60s",
        ),
        (
            "              - ReportBatchItemFailures\n",
            "",
            "batch item failures",
        ),
        (
            "            Path: $default\n",
            "            Path: /fallback\n",
            "no $default route",
        ),
        (
            "          Type: Schedule\n",
            "          Type: CloudWatchLogs\n",
            "reconcile has no schedule",
        ),
        (
            "            Input: '{\"job\": \"bills\"}'\n",
            "",
            "reconcile has no bill schedule",
        ),
        (
            "      CodeUri: ../target/lambda/reconcile/bootstrap.zip\n",
            "      CodeUri: ../target/lambda/sweeper/bootstrap.zip\n",
            "function reconcile is not in the template",
        ),
    ];
    for (old, new, expected) in mutations {
        assert!(
            text.contains(old),
            "the mutation no longer applies: {old:?}"
        );
        let mutated = text.replacen(old, new, 1);
        let problems = match Template::parse(&mutated) {
            Ok(t) => check(&t, &exp),
            Err(e) => vec![e.to_string()],
        };
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "removing {old:?} was not caught as {expected:?}: {problems:#?}"
        );
        println!(
            "caught: {}",
            problems.iter().find(|p| p.contains(expected)).unwrap()
        );
    }
}

#[test]
fn the_watch_router_mirrors_the_template() {
    let exp = expectations();
    let mut cargo_routes = exp.cargo_routes.clone();
    cargo_routes.retain(|r| r.1 != "/v1/uploads");
    let problems = check(
        &Template::parse(&template_text()).unwrap(),
        &Expectations {
            cargo_routes,
            ..exp
        },
    );
    assert!(
        problems
            .iter()
            .any(|p| p
                .contains("POST /v1/uploads -> create-task is in the template but not Cargo.toml")),
        "{problems:#?}"
    );
}

/// A settings source that remembers every name it was asked for.
struct Recorder {
    values: HashMap<String, String>,
    asked: std::cell::RefCell<BTreeSet<String>>,
}

impl shared::runtime::config::Source for Recorder {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().insert(name.to_string());
        self.values.get(name).cloned()
    }
}

/// Every variable a function reads is either the developer's to set locally
/// (`devstack::settings::USER_SETTINGS`) or wired by the stack; a new setting must be listed.
#[test]
fn every_setting_the_functions_read_is_classified() {
    let exp = expectations();
    let ca = finalize::local_ca::make().unwrap();
    let mut asked = BTreeSet::new();
    for (switch, value) in [
        ("KLING_AUTH", "jwt"),
        ("KLING_AUTH", "api_key"),
        ("PROVIDER", "fal"),
        ("CDN_DOMAIN", "d111111abcdef8.cloudfront.net"),
    ] {
        let mut values: HashMap<String, String> = exp
            .required_env
            .values()
            .flatten()
            .map(|n| (n.clone(), "placeholder-value-0123456789".to_string()))
            .collect();
        values.insert(switch.into(), value.into());
        values.insert("AUTH_MODE".into(), "local".into());
        for (name, value) in [
            ("LOCAL_AUTH_SECRET", "local-secret-of-16-or-more"),
            ("KLING_API_KEY", "key"),
            ("FAL_KEY", "key"),
            ("APP_WEBHOOK_URL", "https://hooks.example.com/x"),
            (
                "APP_WEBHOOK_SECRETS",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            ("CDN_KEY_PAIR_ID", "K2JCJMDEHXQW5F"),
            ("CDN_PRIVATE_KEY", "not a key"),
            ("C2PA_CERTIFICATE_CHAIN", ca.chain.as_str()),
            ("C2PA_SIGNING_KEY", ca.key.as_str()),
        ] {
            values.insert(name.into(), value.into());
        }
        let r = Recorder {
            values,
            asked: Default::default(),
        };
        // Every loader must get past its checks, or it stops reading settings.
        create_task::Settings::from_source(&r).unwrap();
        webhook_receiver::Settings::from_source(&r).unwrap();
        finalize::Settings::from_source(&r).unwrap();
        // With a CDN, the placeholder is no RSA key: refused, after every CDN setting was read.
        match status_query::Settings::from_source(&r) {
            Err(ConfigError::Invalid { name, .. }) if switch == "CDN_DOMAIN" => {
                assert_eq!(name, "CDN_PRIVATE_KEY")
            }
            other => assert!(
                other.is_ok(),
                "status-query settings refused: {:?}",
                other.err()
            ),
        }
        reconcile::Settings::from_source(&r).unwrap();
        dispatch::Settings::from_source(&r).unwrap();
        notify::Settings::from_source(&r).unwrap();
        devices::Settings::from_source(&r).unwrap();
        mcp::Settings::from_source(&r).unwrap();
        account::Settings::from_source(&r).unwrap();
        events::Settings::from_source(&r).unwrap();
        asked.extend(r.asked.into_inner());
    }
    use devstack::settings::{STACK_OWNED, USER_SETTINGS};
    let unlisted: Vec<&String> = asked
        .iter()
        .filter(|n| !USER_SETTINGS.contains(&n.as_str()) && !STACK_OWNED.contains(&n.as_str()))
        .collect();
    assert!(unlisted.is_empty(), "settings not classified: {unlisted:?}");
    // RUST_LOG is read by the log filter, not a settings loader.
    let stale: Vec<&&str> = USER_SETTINGS
        .iter()
        .filter(|n| **n != "RUST_LOG" && !asked.contains(**n))
        .collect();
    assert!(stale.is_empty(), "listed but never read: {stale:?}");
    println!("{} settings read, all classified", asked.len());
}

/// References to the CDN's resources from anything that exists without the CDN, outside an
/// `!If [UseCdn, …]`: with the CDN off, those would name resources that are not there.
fn unguarded_cdn_refs(
    v: &serde_yaml::Value,
    cdn: &BTreeSet<String>,
    guarded: bool,
    out: &mut Vec<String>,
) {
    use serde_yaml::Value;
    match v {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let names_cdn = |s: &str| {
                cdn.iter().any(|r| {
                    s == r || s.starts_with(&format!("{r}.")) || s.contains(&format!("${{{r}"))
                })
            };
            match (tag.as_str(), &t.value) {
                ("!If", Value::Sequence(s))
                    if s.first().and_then(Value::as_str) == Some("UseCdn") =>
                {
                    s.iter()
                        .skip(1)
                        .for_each(|x| unguarded_cdn_refs(x, cdn, true, out));
                }
                ("!Ref" | "!GetAtt" | "!Sub", Value::String(s)) if !guarded && names_cdn(s) => {
                    out.push(format!("{tag} {s}"));
                }
                (_, inner) => unguarded_cdn_refs(inner, cdn, guarded, out),
            }
        }
        Value::Sequence(s) => s
            .iter()
            .for_each(|x| unguarded_cdn_refs(x, cdn, guarded, out)),
        Value::Mapping(m) => m
            .values()
            .for_each(|x| unguarded_cdn_refs(x, cdn, guarded, out)),
        _ => {}
    }
}

#[test]
fn the_template_matches_the_code_with_the_cdn_on_and_off() {
    let exp = expectations();
    let text = template_text();
    let off = "  EnableCdn:\n    Type: String\n    Default: \"false\"";
    assert!(text.contains(off), "EnableCdn defaults to off");
    for (mode, tpl) in [
        ("off", text.clone()),
        ("on", text.replacen(off, &off.replace("false", "true"), 1)),
    ] {
        let problems = check(&Template::parse(&tpl).unwrap(), &exp);
        assert!(problems.is_empty(), "CDN {mode}: {problems:#?}");
        let root: serde_yaml::Value = serde_yaml::from_str(&tpl).unwrap();
        let resources = root["Resources"].as_mapping().unwrap();
        let cdn: BTreeSet<String> = resources
            .iter()
            .filter(|(_, r)| r.get("Condition").and_then(|c| c.as_str()) == Some("UseCdn"))
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect();
        let want = [
            "CdnDistribution",
            "CdnKeyGroup",
            "CdnOriginAccessControl",
            "CdnPublicKey",
        ];
        assert_eq!(
            cdn.iter().map(String::as_str).collect::<Vec<_>>(),
            want,
            "CDN {mode}"
        );
        let mut unguarded = Vec::new();
        for (id, r) in resources {
            if !cdn.contains(id.as_str().unwrap()) {
                unguarded_cdn_refs(r, &cdn, false, &mut unguarded);
            }
        }
        assert!(unguarded.is_empty(), "CDN {mode}: {unguarded:?}");
    }
    // status-query is told about the CDN only through the condition.
    let status = Template::parse(&text).unwrap().functions().unwrap();
    let env: Vec<&str> = status
        .iter()
        .find(|f| f.name == "status-query")
        .unwrap()
        .env
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    for name in ["CDN_DOMAIN", "CDN_KEY_PAIR_ID", "CDN_PRIVATE_KEY_SECRET_ID"] {
        assert!(env.contains(&name), "{name}");
    }
}

/// The providers' callback route is throttled on its own bucket, set by its own parameters,
/// and names a route the template really has.
#[test]
fn the_callback_route_has_its_own_throttle() {
    let text = template_text();
    let template = Template::parse(&text).unwrap();
    let api = template
        .resources_of_type("AWS::Serverless::HttpApi")
        .into_iter()
        .find(|(name, _)| name == "HttpApi")
        .map(|(_, props)| props.clone())
        .unwrap();
    let routes = template.http_routes().unwrap();
    let webhook = routes
        .iter()
        .find(|(_, _, f)| f == "webhook-receiver")
        .map(|(m, p, _)| format!("{m} {p}"))
        .unwrap();
    let own = &api["RouteSettings"][webhook.as_str()];
    assert!(own.is_mapping(), "no RouteSettings for {webhook}: {api:?}");
    let params: Vec<String> = template
        .parameter_defaults()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for (limit, param) in [
        ("ThrottlingRateLimit", "WebhookThrottleRate"),
        ("ThrottlingBurstLimit", "WebhookThrottleBurst"),
    ] {
        let reference = devstack::template::reference(&own[limit]);
        assert_eq!(
            format!("{reference:?}"),
            format!("Ref({param:?})"),
            "{limit}"
        );
        assert!(params.contains(&param.to_string()), "{param}");
    }
    let app_routes = api["RouteSettings"].as_mapping().unwrap().len();
    assert_eq!(app_routes, 1, "only the callback route is set apart");
}

/// Every function's errors and every dead-letter queue raise an alarm; removing one is caught.
#[test]
fn every_function_and_dead_letter_queue_has_an_alarm() {
    let text = template_text();
    let template = Template::parse(&text).unwrap();
    assert_eq!(devstack::alarms::gaps(&template), Vec::<String>::new());
    let without_mcp = text.replacen(
        "                  Value: !Ref McpFunction",
        "                  Value: !Ref NotAFunction",
        1,
    );
    assert_ne!(without_mcp, text, "the alarm names the MCP function");
    let gaps = devstack::alarms::gaps(&Template::parse(&without_mcp).unwrap());
    assert_eq!(gaps, ["function McpFunction has no error alarm"]);
    let without_dlq = text.replacen(
        "          Value: !GetAtt NotifyFailureQueue.QueueName",
        "          Value: !GetAtt FinalizeQueue.QueueName",
        1,
    );
    assert_ne!(without_dlq, text, "an alarm names the notify failure queue");
    let gaps = devstack::alarms::gaps(&Template::parse(&without_dlq).unwrap());
    assert_eq!(gaps, ["dead-letter queue NotifyFailureQueue has no alarm"]);
}

/// `make package` builds the zip of every function the template deploys.
#[test]
fn make_package_builds_every_zip_the_template_deploys() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let packaged: BTreeSet<&str> = makefile
        .lines()
        .find_map(|l| l.strip_prefix("FUNCTIONS := "))
        .unwrap()
        .split_whitespace()
        .collect();
    let text = template_text();
    let deployed: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CodeUri: ../target/lambda/"))
        .filter_map(|l| l.strip_suffix("/bootstrap.zip"))
        .collect();
    assert_eq!(deployed.len(), 12);
    assert_eq!(packaged, deployed);
}
