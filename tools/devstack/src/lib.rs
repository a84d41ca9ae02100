//! devstack: the whole backend on one machine, with no AWS account and no Docker.

pub mod alarms;
pub mod bench;
pub mod bridge;
pub mod contract;
pub mod demo;
pub mod docs;
pub mod drift;
pub mod env;
pub mod forward;
pub mod function_url;
pub mod gateway;
pub mod iam;
pub mod invoker;
pub mod lambda_host;
pub mod load;
pub mod lossy;
pub mod moto;
pub mod resources;
pub mod routes;
pub mod schedule;
pub mod settings;
pub mod stack;
pub mod stream_bridge;
pub mod template;

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("template: {0}")]
    Template(String),
    #[error("resources: {0}")]
    Resources(String),
    #[error("{0}")]
    Process(String),
    #[error("demo: {0}")]
    Demo(String),
}
