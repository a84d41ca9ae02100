//! Kling's 2026 standard API (`docs/providers.md` §Standard API): the model in the path
//! (`POST /text-to-video/{model}`, `/image-to-video/{model}`), a body of
//! `{prompt | contents, settings, options}`, `GET /tasks` by up to 20 ids (an unknown id is
//! simply absent from `data`), `POST /tasks` for cursor listing, `succeeded` and `outputs[]`.
//! The same envelope, codes, retries, deadlines and lost-create recovery as the legacy surface.

use serde::{Deserialize, Serialize};

use super::client::{Deadline, KlingClient, WithRequestId};
use super::error::KlingError;

/// The most ids one `GET /tasks` takes.
pub const MAX_IDS_PER_QUERY: usize = 20;

/// One item of `contents[]` (image-to-video).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Prompt {
        text: String,
    },
    FirstFrame {
        url: String,
    },
    LastFrame {
        url: String,
    },
    Element {
        element_id: String,
    },
    /// Motion control's character photo.
    Image {
        url: String,
    },
    /// Motion control's reference video.
    Video {
        url: String,
    },
    /// Omni: the video to edit (`id` names it in the prompt, `@video_1`).
    BaseVideo {
        url: String,
        id: String,
    },
    /// Omni: a reference photo (`@image_1`).
    ReferImage {
        url: String,
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `720p` (our std) or `1080p` (pro).
    pub resolution: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// The length asked for (none for motion control: the reference's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    /// `native` or `off` (motion control: `original` or `off`, left to Kling's default; an
    /// Omni edit: `original`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_shot: Option<bool>,
    /// Motion control: `image` or `video`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub character_orientation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Watermark {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
    pub watermark_info: Watermark,
}

/// A create body: text-to-video carries `prompt`, image-to-video `contents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<Content>>,
    pub settings: Settings,
    pub options: Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Submitted,
    Processing,
    Succeeded,
    Failed,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Output {
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Kling's id for the output, which later jobs can name.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Billing {
    #[serde(default)]
    pub charge_type: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
}

/// A task as `GET /tasks`, the create answer and callbacks show it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StandardTask {
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub billing: Vec<Billing>,
    #[serde(default)]
    pub create_time: Option<i64>,
    #[serde(default)]
    pub update_time: Option<i64>,
    #[serde(skip)]
    pub request_id: Option<String>,
}

impl StandardTask {
    pub fn video(&self) -> Option<&Output> {
        self.outputs
            .iter()
            .find(|o| o.kind == "video" && o.url.is_some())
    }

    /// Units billed from a resource package (`charge_type` `unit`), as Kling wrote them.
    pub fn billed_units(&self) -> Option<String> {
        let units = self
            .billing
            .iter()
            .find(|b| b.charge_type.as_deref() == Some("unit"));
        units.and_then(|b| b.amount.clone())
    }
}

impl WithRequestId for StandardTask {
    fn set_request_id(&mut self, id: Option<String>) {
        self.request_id = id;
    }
}

/// `GET /tasks` answers: the tasks found, and the request id.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Found {
    pub tasks: Vec<StandardTask>,
}

impl WithRequestId for Found {
    fn set_request_id(&mut self, id: Option<String>) {
        for t in &mut self.tasks {
            t.request_id = id.clone();
        }
    }
}

/// One page of `POST /tasks`.
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub result: Vec<StandardTask>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub has_more: bool,
}

impl WithRequestId for Page {}

/// Which ids a query names: Kling's, or ours (`external_task_id`). Never both.
#[derive(Debug, Clone, Copy)]
pub enum Ids<'a> {
    Kling(&'a [&'a str]),
    External(&'a [&'a str]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    TextToVideo,
    ImageToVideo,
    MotionControl,
    OmniVideo,
}

impl Product {
    fn segment(self) -> &'static str {
        match self {
            Product::TextToVideo => "text-to-video",
            Product::ImageToVideo => "image-to-video",
            Product::MotionControl => "motion-control",
            Product::OmniVideo => "omni-video",
        }
    }
}

impl KlingClient {
    /// Create on `/{product}/{model}`; a create whose answer was lost is looked up by our id
    /// before any second POST.
    pub async fn create_standard(
        &self,
        product: Product,
        model: &str,
        body: &CreateRequest,
        deadline: Deadline,
    ) -> Result<StandardTask, KlingError> {
        let segments = [product.segment(), model];
        let ext = body.options.external_task_id.as_deref();
        let lookup = ext.map(|ext| move || self.find_external(ext, deadline));
        self.create_at(&segments, body, lookup, deadline).await
    }

    /// Up to 20 tasks by id; the ones Kling does not know are absent.
    pub async fn query_tasks(
        &self,
        ids: Ids<'_>,
        deadline: Deadline,
    ) -> Result<Vec<StandardTask>, KlingError> {
        let (name, list) = match ids {
            Ids::Kling(l) => ("task_ids", l),
            Ids::External(l) => ("external_task_ids", l),
        };
        if list.is_empty() || list.len() > MAX_IDS_PER_QUERY {
            let msg = format!("a query takes 1 to {MAX_IDS_PER_QUERY} ids");
            return Err(KlingError::InvalidInput(msg));
        }
        let query = [(name, list.join(","))];
        let found: Found = self
            .with_retries(deadline, || {
                self.call::<(), _>(reqwest::Method::GET, &["tasks"], &query, None, deadline)
            })
            .await?;
        Ok(found.tasks)
    }

    /// One task by id: an empty answer is Kling's "not found".
    pub async fn find_one(
        &self,
        ids: Ids<'_>,
        deadline: Deadline,
    ) -> Result<StandardTask, KlingError> {
        let found = self.query_tasks(ids, deadline).await?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| KlingError::TaskNotFound("no task with this id".into()))
    }

    async fn find_external(
        &self,
        ext: &str,
        deadline: Deadline,
    ) -> Result<StandardTask, KlingError> {
        self.find_one(Ids::External(&[ext]), deadline).await
    }

    /// One page of tasks, newest first (`limit` 1..=500).
    pub async fn list_tasks(
        &self,
        cursor: Option<&str>,
        limit: u32,
        deadline: Deadline,
    ) -> Result<Page, KlingError> {
        if !(1..=500).contains(&limit) {
            return Err(KlingError::InvalidInput("limit must be in 1..=500".into()));
        }
        let body = serde_json::json!({"cursor": cursor, "limit": limit});
        self.with_retries(deadline, || {
            self.call(
                reqwest::Method::POST,
                &["tasks"],
                &[],
                Some(&body),
                deadline,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_answers_have_the_documented_shape() {
        let body = CreateRequest {
            prompt: None,
            contents: Some(vec![
                Content::Prompt { text: "p".into() },
                Content::FirstFrame {
                    url: "https://x/a.png".into(),
                },
                Content::Element {
                    element_id: "e1".into(),
                },
            ]),
            settings: Settings {
                resolution: "1080p".into(),
                aspect_ratio: None,
                duration: Some(7),
                audio: Some("native".into()),
                multi_shot: None,
                character_orientation: None,
            },
            options: Options {
                callback_url: None,
                external_task_id: Some("t1".into()),
                watermark_info: Watermark { enabled: false },
            },
        };
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["contents"][1]["type"], "first_frame");
        assert_eq!(v["contents"][2]["element_id"], "e1");
        assert_eq!(v["settings"]["duration"], 7);
        assert!(v.get("prompt").is_none());
        let raw = r#"{"id":"9","status":"succeeded","message":"","external_id":"t1","unknown":1,
            "outputs":[{"type":"video","id":"v","url":"https://cdn/v.mp4","duration":"7.0"}],
            "billing":[{"charge_type":"unit","amount":"5.6","package_type":"video"}]}"#;
        let t: StandardTask = serde_json::from_str(raw).unwrap();
        assert_eq!(t.status, Status::Succeeded);
        assert_eq!(t.billed_units().as_deref(), Some("5.6"));
        assert_eq!(
            t.video().and_then(|o| o.url.as_deref()),
            Some("https://cdn/v.mp4")
        );
    }
}
