//! Task records and their lifecycle on a clock: submitted → processing → succeed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::SimConfig;
use crate::callbacks;

#[derive(Debug, Clone)]
pub struct SimTask {
    pub task_id: String,
    pub kind: &'static str,
    pub external_task_id: Option<String>,
    pub status: &'static str,
    pub status_msg: String,
    pub duration: String,
    pub callback_url: Option<String>,
    pub video_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SimTask {
    /// The task object exactly as Kling shows it (query `data`, callback body).
    pub fn to_json(&self) -> Value {
        let mut info = serde_json::Map::new();
        if let Some(ext) = &self.external_task_id {
            info.insert("external_task_id".into(), json!(ext));
        }
        let result = match &self.video_url {
            Some(url) => {
                json!({"videos": [{"id": format!("v{}", self.task_id), "url": url, "duration": self.duration}]})
            }
            None => json!({}),
        };
        json!({
            "task_id": self.task_id,
            "task_status": self.status,
            "task_status_msg": self.status_msg,
            "task_info": info,
            "task_result": result,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, SimTask>,
    by_external: HashMap<String, String>,
    order: Vec<String>,
    next_id: u64,
}

pub struct SimState {
    pub config: SimConfig,
    pub base_url: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[derive(Debug, PartialEq)]
pub enum CreateError {
    DuplicateExternalId,
}

impl SimState {
    pub fn new(config: SimConfig, base_url: String) -> Self {
        Self {
            config,
            base_url,
            http: reqwest::Client::new(),
            inner: Mutex::new(Inner {
                next_id: 860_000_000_000_000_000,
                ..Default::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create(
        self: &Arc<Self>,
        kind: &'static str,
        external_task_id: Option<String>,
        duration: String,
        callback_url: Option<String>,
    ) -> Result<SimTask, CreateError> {
        let task = {
            let mut inner = self.lock();
            if let Some(ext) = &external_task_id
                && inner.by_external.contains_key(ext)
            {
                return Err(CreateError::DuplicateExternalId);
            }
            inner.next_id += 1;
            let now = now_ms();
            let task = SimTask {
                task_id: inner.next_id.to_string(),
                kind,
                external_task_id: external_task_id.clone(),
                status: "submitted",
                status_msg: String::new(),
                duration,
                callback_url,
                video_url: None,
                created_at: now,
                updated_at: now,
            };
            if let Some(ext) = external_task_id {
                inner.by_external.insert(ext, task.task_id.clone());
            }
            inner.order.push(task.task_id.clone());
            inner.tasks.insert(task.task_id.clone(), task.clone());
            task
        };
        let state = self.clone();
        let id = task.task_id.clone();
        tokio::spawn(async move { state.run_lifecycle(id).await });
        Ok(task)
    }

    /// Find by task_id or external_task_id.
    pub fn find(&self, kind: &str, id: &str) -> Option<SimTask> {
        let inner = self.lock();
        let task_id = inner.by_external.get(id).map(String::as_str).unwrap_or(id);
        inner.tasks.get(task_id).filter(|t| t.kind == kind).cloned()
    }

    pub fn page(&self, kind: &str, page_num: usize, page_size: usize) -> Vec<SimTask> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.tasks.get(id))
            .filter(|t| t.kind == kind)
            .skip((page_num - 1) * page_size)
            .take(page_size)
            .cloned()
            .collect()
    }

    pub fn task_count(&self) -> usize {
        self.lock().tasks.len()
    }

    pub fn count_for_external(&self, external_task_id: &str) -> usize {
        self.lock()
            .tasks
            .values()
            .filter(|t| t.external_task_id.as_deref() == Some(external_task_id))
            .count()
    }

    fn set_status(&self, id: &str, status: &'static str) -> Option<SimTask> {
        let mut inner = self.lock();
        let task = inner.tasks.get_mut(id)?;
        task.status = status;
        task.updated_at = now_ms();
        if status == "succeed" {
            task.video_url = Some(format!(
                "{}/videos/{}/output.mp4",
                self.base_url, task.task_id
            ));
        }
        Some(task.clone())
    }

    async fn notify(&self, task: &SimTask) {
        if let Some(url) = &task.callback_url {
            callbacks::deliver(&self.http, url, &task.to_json()).await;
        }
    }

    async fn run_lifecycle(self: Arc<Self>, id: String) {
        if let Some(task) = self.find_any(&id) {
            self.notify(&task).await;
        }
        for status in ["processing", "succeed"] {
            tokio::time::sleep(self.config.step).await;
            match self.set_status(&id, status) {
                Some(task) => self.notify(&task).await,
                None => return,
            }
        }
    }

    fn find_any(&self, id: &str) -> Option<SimTask> {
        self.lock().tasks.get(id).cloned()
    }
}
