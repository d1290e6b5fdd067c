//! The client's dataset calls: upload, list, versions, and the download of a version's bytes,
//! whole or as a stream of chunks.

use super::{Client, encode};
use crate::datasets::*;
use crate::error::ApiError;
use reqwest::Method;

/// A dataset version's CSV on its way: read it chunk by chunk with [`Self::chunk`], so a large
/// file never has to fit in memory.
#[derive(Debug)]
pub struct DatasetDownload {
    response: reqwest::Response,
    url: String,
    /// The size the server announced, when it did.
    pub size: Option<u64>,
}

impl DatasetDownload {
    /// The next chunk of the CSV; `None` once it is all read.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        match self.response.chunk().await {
            Ok(chunk) => Ok(chunk.map(|bytes| bytes.to_vec())),
            Err(source) => Err(ApiError::Transport {
                url: self.url.clone(),
                source,
            }),
        }
    }
}

impl Client {
    /// Uploads a CSV as (a new version of) dataset `name`; `task` is inferred when `None`.
    pub async fn upload_dataset(
        &self,
        name: &str,
        label: &str,
        task: Option<&str>,
        csv: Vec<u8>,
    ) -> Result<UploadedDataset, ApiError> {
        let options = UploadOptions {
            label: label.to_owned(),
            task: task.map(str::to_owned),
            ..UploadOptions::default()
        };
        self.upload_dataset_with(name, &options, csv).await
    }

    /// Uploads a table (CSV, gzip-compressed CSV or Parquet; the server tells them apart by
    /// their first bytes) as (a new version of) dataset `name`, with column options. `body`
    /// may be a `tokio::fs::File`, which is streamed rather than read into memory.
    pub async fn upload_dataset_with(
        &self,
        name: &str,
        options: &UploadOptions,
        body: impl Into<reqwest::Body>,
    ) -> Result<UploadedDataset, ApiError> {
        let request = self
            .request(Method::POST, &format!("/api/v1/datasets/{}", encode(name)))
            .query(options)
            .header("content-type", "application/octet-stream")
            .body(body);
        self.json(request).await
    }

    fn content_path(name: &str, version: u32) -> String {
        format!(
            "/api/v1/datasets/{}/versions/{version}/content",
            encode(name)
        )
    }

    /// The CSV content of version `version` of dataset `name`, whole.
    pub async fn download_dataset(&self, name: &str, version: u32) -> Result<Vec<u8>, ApiError> {
        let request = self.request(Method::GET, &Self::content_path(name, version));
        self.bytes(request).await
    }

    /// The CSV content of version `version` of dataset `name`, as a stream of chunks: the
    /// bytes that were uploaded, unchanged.
    pub async fn stream_dataset(
        &self,
        name: &str,
        version: u32,
    ) -> Result<DatasetDownload, ApiError> {
        let request = self.request(Method::GET, &Self::content_path(name, version));
        let response = self.send(request).await?;
        Ok(DatasetDownload {
            size: response.content_length(),
            response,
            url: self.base.clone(),
        })
    }

    /// The latest version of every dataset.
    pub async fn list_datasets(&self) -> Result<Vec<DatasetVersion>, ApiError> {
        self.get("/api/v1/datasets").await
    }

    /// Every version of dataset `name`, newest first, with statistics.
    pub async fn dataset_versions(&self, name: &str) -> Result<Vec<DatasetVersion>, ApiError> {
        self.get(&format!("/api/v1/datasets/{}", encode(name)))
            .await
    }
}
