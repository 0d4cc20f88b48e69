//! The one evaluation: predictions and confusion matrices of a model on a data set, in
//! evaluation mode (dropout off, batch norm on its running statistics).

use crate::data::{Dataset, Normalization};
use crate::metrics::Confusion;
use crate::models::Model;
use crate::tta::Tta;
use crate::Result;
use candle_core::{Device, D};

/// Evaluation batch size: large enough to be fast, small enough to bound memory.
pub const EVAL_BATCH: usize = 500;

/// Predicted class of every sample, in evaluation mode.
pub fn predict(model: &Model, ds: &Dataset, norm: &Normalization, device: &Device) -> Result<Vec<u32>> {
    predict_with(model, ds, norm, device, Tta::None)
}

/// Predicted class of every sample, in evaluation mode, with test-time augmentation `tta`.
///
/// Runs [`Model::detached`]: no batch's intermediate tensors outlive its forward pass.
pub fn predict_with(model: &Model, ds: &Dataset, norm: &Normalization, device: &Device, tta: Tta) -> Result<Vec<u32>> {
    let model = &model.detached();
    let mut preds = Vec::with_capacity(ds.len());
    let idx: Vec<usize> = (0..ds.len()).collect();
    for chunk in idx.chunks(EVAL_BATCH) {
        let (xs, _) = ds.batch(chunk, norm, device)?;
        preds.extend(tta.scores(model, &xs)?.argmax(D::Minus1)?.to_vec1::<u32>()?);
    }
    Ok(preds)
}

/// Confusion matrix of `model` on `ds`.
pub fn evaluate(model: &Model, ds: &Dataset, norm: &Normalization, device: &Device) -> Result<Confusion> {
    evaluate_with(model, ds, norm, device, Tta::None)
}

/// Confusion matrix of `model` on `ds` with test-time augmentation `tta`.
pub fn evaluate_with(
    model: &Model,
    ds: &Dataset,
    norm: &Normalization,
    device: &Device,
    tta: Tta,
) -> Result<Confusion> {
    let preds = predict_with(model, ds, norm, device, tta)?;
    let truth: Vec<u32> = ds.labels.iter().map(|&l| l as u32).collect();
    let mut c = Confusion::new(ds.num_classes());
    c.add(&truth, &preds);
    Ok(c)
}
