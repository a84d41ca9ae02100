use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;

use crate::ports::{BlobError, UploadStore, VideoMetadata, VideoStore};

pub struct S3VideoStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3VideoStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

impl VideoStore for S3VideoStore {
    async fn put_video(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        metadata: &VideoMetadata,
    ) -> Result<(), BlobError> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body));
        for (k, v) in &metadata.pairs {
            put = put.metadata(k, v);
        }
        put.send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| BlobError(e.to_string()))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(req.uri().to_string())
    }
}

impl UploadStore for S3VideoStore {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| BlobError(e.to_string()))?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(content_length as i64)
            .presigned(config)
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(req.uri().to_string())
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Option<Bytes>, BlobError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(BlobError(super::sdk_error(e))),
        };
        let mut body = out.body;
        let mut buf = Vec::new();
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| BlobError(e.to_string()))?
        {
            buf.extend_from_slice(&chunk);
            if buf.len() as u64 > max_bytes {
                break;
            }
        }
        Ok(Some(Bytes::from(buf)))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        VideoStore::presign_get(self, key, ttl).await
    }
}
