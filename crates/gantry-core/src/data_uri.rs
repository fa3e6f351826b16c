//! Locations of data: `gs://bucket/prefix`, `s3://bucket/key`,
//! `az://account/container/path`, `https://host/path`.

use std::fmt;

/// Where data is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StorageScheme {
    /// Google Cloud Storage.
    Gcs,
    /// Amazon S3.
    S3,
    /// Azure Blob Storage.
    AzureBlob,
    /// Any HTTPS server.
    Https,
}

impl StorageScheme {
    /// The URI scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageScheme::Gcs => "gs",
            StorageScheme::S3 => "s3",
            StorageScheme::AzureBlob => "az",
            StorageScheme::Https => "https",
        }
    }
}

/// A parsed data URI.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataUri {
    /// Scheme.
    pub scheme: StorageScheme,
    /// Bucket (gs, s3), storage account (az) or host (https).
    pub bucket: String,
    /// Everything after the bucket, without the leading `/`.
    pub path: String,
}

/// Why a data URI was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataUriError {
    /// Unknown or missing scheme.
    #[error(
        "`{uri}` is not a data location Gantry understands; use gs://, s3://, az:// or https://"
    )]
    UnknownScheme {
        /// The URI.
        uri: String,
    },
    /// The bucket part is not a valid bucket name.
    #[error("`{bucket}` is not a valid bucket name: {reason}")]
    InvalidBucket {
        /// The bucket.
        bucket: String,
        /// What rule it breaks.
        reason: &'static str,
    },
    /// Whitespace or control characters.
    #[error("data locations cannot contain spaces or control characters")]
    Whitespace,
}

impl DataUri {
    /// Parses and checks a data URI.
    pub fn parse(uri: &str) -> Result<DataUri, DataUriError> {
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DataUriError::Whitespace);
        }
        let (scheme, rest) = match uri.split_once("://") {
            Some(("gs", rest)) => (StorageScheme::Gcs, rest),
            Some(("s3", rest)) => (StorageScheme::S3, rest),
            Some(("az", rest)) => (StorageScheme::AzureBlob, rest),
            Some(("https", rest)) => (StorageScheme::Https, rest),
            _ => {
                return Err(DataUriError::UnknownScheme {
                    uri: uri.to_owned(),
                });
            }
        };
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(scheme, bucket)?;
        Ok(DataUri {
            scheme,
            bucket: bucket.to_owned(),
            path: path.to_owned(),
        })
    }
}

fn check_bucket(scheme: StorageScheme, bucket: &str) -> Result<(), DataUriError> {
    let invalid = |reason| {
        Err(DataUriError::InvalidBucket {
            bucket: bucket.to_owned(),
            reason,
        })
    };
    if bucket.is_empty() {
        return invalid("it is empty");
    }
    if scheme == StorageScheme::Https {
        if bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        {
            return Ok(());
        }
        return invalid("a host name has letters, digits, dots, dashes and an optional :port");
    }
    if bucket.len() < 3 || bucket.len() > 222 {
        return invalid("bucket names are 3 to 222 characters long");
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
    {
        return invalid("bucket names use lowercase letters, digits, dots, dashes and underscores");
    }
    let first_and_last_ok = bucket
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && bucket
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_and_last_ok {
        return invalid("bucket names start and end with a letter or digit");
    }
    Ok(())
}

impl fmt::Display for DataUri {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}://{}", self.scheme.as_str(), self.bucket)?;
        if !self.path.is_empty() {
            write!(formatter, "/{}", self.path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn good_uris_parse_and_print_back() {
        for uri in [
            "gs://acme-datasets/sft-v3/",
            "s3://my.bucket/key/file.parquet",
            "az://account/container/path",
            "https://huggingface.co/meta-llama/Llama-3-8B",
            "gs://bucket",
        ] {
            assert_eq!(DataUri::parse(uri).unwrap().to_string(), uri);
        }
    }

    #[test]
    fn bad_uris_say_why() {
        assert!(matches!(
            DataUri::parse("hdfs://x/y"),
            Err(DataUriError::UnknownScheme { .. })
        ));
        assert!(matches!(
            DataUri::parse("acme/data"),
            Err(DataUriError::UnknownScheme { .. })
        ));
        assert!(matches!(
            DataUri::parse("gs://Acme/x"),
            Err(DataUriError::InvalidBucket { .. })
        ));
        assert!(matches!(
            DataUri::parse("gs://ab"),
            Err(DataUriError::InvalidBucket { .. })
        ));
        assert!(matches!(
            DataUri::parse("gs:///x"),
            Err(DataUriError::InvalidBucket { .. })
        ));
        assert_eq!(DataUri::parse("gs://a b/c"), Err(DataUriError::Whitespace));
    }
}
