//! From trained models to pictures: the data each picture in [`crate::plot`] needs.

use crate::checkpoint::{Checkpoint, CheckpointMeta};
use crate::data::{Dataset, Normalization, Pixels};
use crate::models::knn::Knn;
use crate::models::Model;
use crate::plot::Grid;
use crate::{Error, Result};
use candle_core::{Device, ModuleT, Tensor, D};

/// What `visualize --what` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// The linear classifier's rows of `W` as images: one template per class.
    Templates,
    /// The CNN's first-layer filters.
    Filters,
    /// The first-layer weights of any model (the MLP's hidden units), as images.
    Weights,
}

/// The first layer of a checkpoint as images `[C, H, W]`, with a label per image.
pub fn first_layer_images(ck: &Checkpoint, what: What) -> Result<(Vec<Vec<f32>>, [usize; 3], Vec<String>)> {
    let kind = ck.meta.model.kind().as_str();
    match (what, &ck.model) {
        (What::Templates, Model::Linear(_)) | (What::Weights, Model::Linear(_) | Model::Mlp(_)) => {}
        (What::Filters | What::Weights, Model::Cnn(_)) => {}
        _ => {
            return Err(Error::invalid(
                "--what",
                format!("{what:?} does not apply to a {kind} model: templates for linear, filters for cnn, weights for linear, mlp or cnn"),
            ))
        }
    }
    if ck.meta.features.is_some() {
        return Err(Error::invalid(
            "--what",
            "this model reads hand-made features, not pixels: its weights are not images",
        ));
    }
    let w = ck.model.first_layer_weights().to_device(&Device::Cpu)?;
    let units = w.dim(0)?;
    let shape: [usize; 3] = match w.dims() {
        [_, c, h, k] => [*c, *h, *k],
        _ => ck.meta.image_shape.unwrap_or(ck.meta.model.input_shape()),
    };
    let rows = w.flatten_from(1)?.to_vec2::<f32>()?;
    let labels = match ck.model {
        Model::Linear(_) => ck.meta.classes.clone(),
        _ => (0..units).map(|i| format!("{i}")).collect(),
    };
    Ok((rows, shape, labels))
}

/// Un-normalized images of `ds` (values in `[0, 1]`) for picture grids.
pub fn images(ds: &Dataset, indices: &[usize]) -> Vec<Vec<f32>> {
    let d = ds.sample_dim();
    indices.iter().map(|&i| (0..d).map(|j| ds.pixels.get(i * d + j)).collect()).collect()
}

/// The 2-D points and labels of a toy data set.
pub fn points(ds: &Dataset) -> Result<(Vec<(f32, f32)>, Vec<u32>)> {
    match (&ds.pixels, ds.shape) {
        (Pixels::F32(v), [2, 1, 1]) => Ok((v.chunks(2).map(|p| (p[0], p[1])).collect(), ds.labels_u32())),
        _ => Err(Error::invalid("--dataset", format!("{} is not a 2-D point set", ds.name))),
    }
}

/// A grid over `points` with each cell classified by `model`.
pub fn model_grid(model: &Model, norm: &Normalization, points: &[(f32, f32)], resolution: usize) -> Result<Grid> {
    let mut grid = Grid::new(points, resolution, 0.3);
    let coords = grid.coords();
    let xs: Vec<f32> = coords
        .iter()
        .flat_map(|&(x, y)| [(x - norm.mean[0]) / norm.std[0], (y - norm.mean[1]) / norm.std[1]])
        .collect();
    let xs = Tensor::from_vec(xs, (coords.len(), 2, 1, 1), &Device::Cpu)?;
    grid.classes = model.forward_t(&xs, false)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
    Ok(grid)
}

/// A grid over `points` with each cell classified by kNN with `k` neighbours.
pub fn knn_grid(knn: &Knn, k: usize, points: &[(f32, f32)], resolution: usize) -> Result<Grid> {
    let mut grid = Grid::new(points, resolution, 0.3);
    let coords = grid.coords();
    let xs: Vec<f32> = coords.iter().flat_map(|&(x, y)| [x, y]).collect();
    grid.classes = knn.predict(&Tensor::from_vec(xs, (coords.len(), 2), &Device::Cpu)?, k)?;
    Ok(grid)
}

/// The title of a checkpoint's pictures.
pub fn title(meta: &CheckpointMeta) -> String {
    format!("{} {} (epoch {})", meta.dataset, meta.model.kind().as_str(), meta.epoch)
}
