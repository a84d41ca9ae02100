use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use bytes::Bytes;

use crate::ports::{
    BlobError, DocumentStore, MultipartUpload, UploadStore, UploadedPart, VideoMetadata, VideoStore,
};

pub struct S3VideoStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// With a CDN in front of the bucket, links are CloudFront signed URLs.
    cdn: Option<crate::edge::cdn::CdnSigner>,
}

impl S3VideoStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            cdn: None,
        }
    }

    pub fn with_cdn(mut self, cdn: Option<crate::edge::cdn::CdnSigner>) -> Self {
        self.cdn = cdn;
        self
    }
}

impl VideoStore for S3VideoStore {
    async fn begin(
        &self,
        key: &str,
        content_type: &str,
        metadata: &VideoMetadata,
    ) -> Result<MultipartUpload, BlobError> {
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            // The object keeps a CRC32 of its parts' CRC32s, and S3 checks each part's against
            // the completion's list. (Without it, completing also cost moto 1.5× the CPU.)
            .checksum_algorithm(ChecksumAlgorithm::Crc32);
        for (k, v) in &metadata.pairs {
            create = create.metadata(k, v);
        }
        let out = create
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(MultipartUpload {
            key: key.to_string(),
            upload_id: out
                .upload_id
                .ok_or_else(|| BlobError("no upload id".into()))?,
            parts: Vec::new(),
        })
    }

    /// The payload is not signed (no SHA-256 over every byte a second time: finalize already
    /// hashes it once); its CRC32 guards it, and the completion names it.
    async fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, BlobError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(UploadedPart {
            number,
            etag: out.e_tag.unwrap_or_default(),
            crc32: out.checksum_crc32,
        })
    }

    async fn complete(&self, upload: &MultipartUpload) -> Result<(), BlobError> {
        let parts = upload
            .parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(&p.etag)
                    .set_checksum_crc32(p.crc32.clone())
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(())
    }

    async fn abort(&self, upload: &MultipartUpload) -> Result<(), BlobError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<VideoMetadata>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(VideoMetadata {
                pairs: out.metadata.unwrap_or_default().into_iter().collect(),
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(BlobError(super::sdk_error(e))),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(())
    }

    async fn presign_get(
        &self,
        key: &str,
        signed_at: SystemTime,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        if let Some(cdn) = &self.cdn {
            let expires = signed_at + ttl;
            let secs = expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_err(|e| BlobError(Box::new(e)))?
                .as_secs();
            return cdn.url(key, secs).map_err(|e| BlobError(Box::new(e)));
        }
        self.presign_s3(key, signed_at, ttl).await
    }
}

impl S3VideoStore {
    /// A presigned GET from the bucket itself.
    async fn presign_s3(
        &self,
        key: &str,
        signed_at: SystemTime,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let config = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(ttl)
            .build()
            .map_err(|e| BlobError(Box::new(e)))?;
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

impl DocumentStore for S3VideoStore {
    async fn put_document(&self, key: &str, body: Bytes) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .content_disposition("attachment; filename=\"kling-lambda-export.json\"")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(())
    }

    async fn presign_document(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        self.presign_s3(key, SystemTime::now(), ttl).await
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
        let config = PresigningConfig::expires_in(ttl).map_err(|e| BlobError(Box::new(e)))?;
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
        while let Some(chunk) = body.try_next().await.map_err(|e| BlobError(Box::new(e)))? {
            buf.extend_from_slice(&chunk);
            if buf.len() as u64 > max_bytes {
                break;
            }
        }
        Ok(Some(Bytes::from(buf)))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        VideoStore::presign_get(self, key, SystemTime::now(), ttl).await
    }

    /// One `DeleteObject` per key: `DeleteObjects` would need its body's MD5 and gives nothing
    /// at the size of one user's uploads.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut deleted = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| BlobError(super::sdk_error(e)))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    VideoStore::delete(self, key).await?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }
}

impl crate::ports::PosterImages for S3VideoStore {
    async fn put_poster(&self, key: &str, jpeg: Bytes) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("image/jpeg")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(jpeg))
            .send()
            .await
            .map_err(|e| BlobError(super::sdk_error(e)))?;
        Ok(())
    }
}
