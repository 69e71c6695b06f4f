//! Hearth's AWS backend: a [`ResourceStore`](hearth_interface::store::ResourceStore) on one
//! DynamoDB table. The table design is documented in `README.md` beside this crate.

pub mod binary;
pub mod jobs;

pub use binary::S3BinaryStore;
pub use jobs::DynamoJobStore;
