//! The library's error type: every failure says what was wrong and what to do about it.

use std::path::PathBuf;

/// Errors raised by kindling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file is missing, truncated or malformed.
    #[error("data file {path}: {problem}")]
    Data {
        /// The file that could not be used.
        path: PathBuf,
        /// What was wrong and what to do.
        problem: String,
    },
    /// A folder data set's folder (or one of its class folders) cannot be used as it is.
    #[error("folder {path}: {problem}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What was wrong and what to do.
        problem: String,
    },
    /// A data set could not be found anywhere kindling looks for it.
    #[error("{0}")]
    DataNotFound(String),
    /// A command-line value or configuration field is out of range.
    #[error("invalid {name}: {problem}")]
    InvalidArgument {
        /// The flag or field, e.g. `--lr`.
        name: String,
        /// What was wrong and what to do.
        problem: String,
    },
    /// The requested device is not available in this build or on this machine.
    #[error("{0}")]
    Device(String),
    /// A checkpoint could not be read or does not fit the model.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was wrong and what to do.
        problem: String,
    },
    /// Training diverged.
    #[error("loss became {value} at epoch {epoch}, step {step}: training stopped. Try a lower learning rate (`lr`), a smaller `reg`, or gradient-friendlier defaults")]
    NonFiniteLoss {
        /// The epoch (1-based).
        epoch: usize,
        /// The step within the epoch (1-based).
        step: usize,
        /// The loss value seen (NaN or infinite).
        value: f32,
    },
    /// An image given for prediction could not be decoded.
    #[error("image {path}: {problem}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What was wrong.
        problem: String,
    },
    /// A model that ONNX export cannot express, or an ONNX file that could not be written.
    #[error("ONNX export: {0}")]
    Export(String),
    /// A download from the Hugging Face Hub failed.
    #[error("{0}")]
    Download(String),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An I/O error without a more specific context.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The result type used throughout kindling.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::InvalidArgument`] for flag or field `name`.
    pub fn invalid(name: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidArgument { name: name.into(), problem: problem.into() }
    }

    /// An [`Error::Data`] for `path`.
    pub fn data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Data { path: path.into(), problem: problem.into() }
    }

    /// An [`Error::Folder`] for `path`.
    pub fn folder(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Folder { path: path.into(), problem: problem.into() }
    }

    /// An [`Error::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), problem: problem.into() }
    }
}
