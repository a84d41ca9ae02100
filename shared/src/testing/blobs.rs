//! The finalize queue and the bucket, in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::ports::{
    BlobError, DocumentStore, FinalizeMessage, FinalizeQueue, MultipartUpload, QueueError,
    UploadStore, UploadedPart, VideoMetadata, VideoStore,
};

/// The finalize queue, in memory; clones share it.
#[derive(Default, Clone)]
pub struct MemoryQueue {
    pub messages: Arc<Mutex<Vec<FinalizeMessage>>>,
    /// Dispatcher wake-ups, with their delays.
    pub nudges: Arc<Mutex<Vec<Duration>>>,
    /// Erasure jobs (re)started: user and delay.
    pub erasures: Arc<Mutex<Vec<(String, Duration)>>>,
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryQueue {
    pub fn drain(&self) -> Vec<FinalizeMessage> {
        self.messages
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

impl crate::ports::DispatchNudge for MemoryQueue {
    async fn nudge(&self, delay: Duration) -> Result<(), QueueError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError("injected queue failure".into()));
        }
        if let Ok(mut n) = self.nudges.lock() {
            n.push(delay);
        }
        Ok(())
    }
}

impl FinalizeQueue for MemoryQueue {
    async fn enqueue(&self, message: &FinalizeMessage) -> Result<(), QueueError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError("injected queue failure".into()));
        }
        let mut m = self
            .messages
            .lock()
            .map_err(|_| QueueError("poisoned".into()))?;
        m.push(message.clone());
        Ok(())
    }
}

/// The bucket, in memory (clones share it): objects with metadata, multipart uploads, and presigned links of
/// the form `https://memory.invalid/{key}?signed={unix}&ttl={secs}` (an https URL, as a provider takes).
#[derive(Default, Clone)]
pub struct MemoryBlobs {
    objects: Arc<Mutex<HashMap<String, (Bytes, VideoMetadata)>>>,
    /// Uploads in progress by upload id.
    parts: Arc<Mutex<HashMap<String, Pending>>>,
    /// The part sizes each completed upload was made of, by key.
    completed: Arc<Mutex<HashMap<String, Vec<usize>>>>,
}

/// S3 refuses to complete an upload with a part under 5 MiB that is not the last one.
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// An upload in progress: its parts by number and the metadata its object will carry.
type Pending = (BTreeMap<i32, Bytes>, VideoMetadata);

fn blob_err<T>(_: T) -> BlobError {
    BlobError("memory bucket lock poisoned".into())
}

impl MemoryBlobs {
    pub fn put(&self, key: &str, body: impl Into<Bytes>) {
        self.put_with(key, body, VideoMetadata::default());
    }

    pub fn put_with(&self, key: &str, body: impl Into<Bytes>, metadata: VideoMetadata) {
        if let Ok(mut o) = self.objects.lock() {
            o.insert(key.into(), (body.into(), metadata));
        }
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn uploads_in_progress(&self) -> usize {
        self.parts.lock().map_or(0, |p| p.len())
    }

    /// The sizes of the parts the last completed upload of `key` was made of.
    pub fn part_sizes(&self, key: &str) -> Vec<usize> {
        self.completed
            .lock()
            .ok()
            .and_then(|c| c.get(key).cloned())
            .unwrap_or_default()
    }

    pub fn object(&self, key: &str) -> Option<(Bytes, VideoMetadata)> {
        self.objects.lock().ok()?.get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .lock()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

fn link(key: &str, signed_at: SystemTime, ttl: Duration) -> String {
    let at = signed_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "https://memory.invalid/{key}?signed={at}&ttl={}",
        ttl.as_secs()
    )
}

/// What the memory store answers for a part: a number-derived ETag and a length-derived
/// stand-in for its checksum.
fn stored_part(number: i32, body: &Bytes) -> UploadedPart {
    UploadedPart {
        number,
        etag: format!("etag-{number}"),
        crc32: Some(format!("crc-{number}-{}", body.len())),
    }
}

impl VideoStore for MemoryBlobs {
    async fn begin(
        &self,
        key: &str,
        _content_type: &str,
        metadata: &VideoMetadata,
    ) -> Result<MultipartUpload, BlobError> {
        let upload_id = uuid::Uuid::new_v4().to_string();
        self.parts
            .lock()
            .map_err(blob_err)?
            .insert(upload_id.clone(), (BTreeMap::new(), metadata.clone()));
        Ok(MultipartUpload {
            key: key.into(),
            upload_id,
            parts: Vec::new(),
        })
    }

    async fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, BlobError> {
        let mut parts = self.parts.lock().map_err(blob_err)?;
        let (list, _) = parts
            .get_mut(&upload.upload_id)
            .ok_or_else(|| BlobError("no such upload".into()))?;
        let stored = stored_part(number, &body);
        list.insert(number, body);
        Ok(stored)
    }

    async fn complete(&self, upload: &MultipartUpload) -> Result<(), BlobError> {
        let (parts, metadata) = self
            .parts
            .lock()
            .map_err(blob_err)?
            .remove(&upload.upload_id)
            .ok_or_else(|| BlobError("no such upload".into()))?;
        // As S3 for an upload begun with CRC32: each part named by its number, ETag and checksum.
        let stored: Vec<UploadedPart> = parts.iter().map(|(n, b)| stored_part(*n, b)).collect();
        if upload.parts != stored {
            return Err(BlobError(
                "the completion lists other parts than were uploaded".into(),
            ));
        }
        let sizes: Vec<usize> = parts.values().map(Bytes::len).collect();
        if sizes.iter().rev().skip(1).any(|s| *s < MIN_PART_BYTES) {
            return Err(BlobError(
                "EntityTooSmall: a part other than the last is under 5 MiB".into(),
            ));
        }
        if let Ok(mut c) = self.completed.lock() {
            c.insert(upload.key.clone(), sizes);
        }
        self.put_with(
            &upload.key,
            parts.into_values().collect::<Vec<_>>().concat(),
            metadata,
        );
        Ok(())
    }

    async fn abort(&self, upload: &MultipartUpload) -> Result<(), BlobError> {
        self.parts
            .lock()
            .map_err(blob_err)?
            .remove(&upload.upload_id);
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<VideoMetadata>, BlobError> {
        Ok(self.object(key).map(|(_, m)| m))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.objects.lock().map_err(blob_err)?.remove(key);
        Ok(())
    }

    async fn presign_get(
        &self,
        key: &str,
        signed_at: SystemTime,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        Ok(link(key, signed_at, ttl))
    }
}

impl UploadStore for MemoryBlobs {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        Ok(format!(
            "memory://{key}?put&type={content_type}&length={content_length}&ttl={}",
            ttl.as_secs()
        ))
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Option<Bytes>, BlobError> {
        Ok(self
            .object(key)
            .map(|(b, _)| b.slice(..b.len().min(max_bytes as usize + 1))))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        Ok(link(key, SystemTime::now(), ttl))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        let mut objects = self.objects.lock().map_err(blob_err)?;
        let before = objects.len();
        objects.retain(|k, _| !k.starts_with(prefix));
        Ok(before - objects.len())
    }
}

impl DocumentStore for MemoryBlobs {
    async fn put_document(&self, key: &str, body: Bytes) -> Result<(), BlobError> {
        let metadata = VideoMetadata::default();
        self.objects
            .lock()
            .map_err(blob_err)?
            .insert(key.to_string(), (body, metadata));
        Ok(())
    }

    async fn presign_document(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        Ok(link(key, SystemTime::now(), ttl))
    }
}

impl crate::ports::PosterImages for MemoryBlobs {
    async fn put_poster(&self, key: &str, jpeg: Bytes) -> Result<(), BlobError> {
        self.objects
            .lock()
            .map_err(blob_err)?
            .insert(key.to_string(), (jpeg, VideoMetadata::default()));
        Ok(())
    }
}
