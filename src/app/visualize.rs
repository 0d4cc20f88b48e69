//! From trained models to pictures: the data each picture in [`crate::app::plot`] needs.

use crate::app::plot::Grid;
use crate::checkpoint::{Checkpoint, CheckpointMeta};
use crate::data::{Dataset, Normalization, Pixels};
use crate::models::knn::Knn;
use crate::models::Model;
use crate::{Error, Result};
use candle_core::{Device, ModuleT, Tensor, D};

/// Images (each `[C, H, W]` in CHW order, flattened), their common shape, and a label per image.
pub type LabelledImages = (Vec<Vec<f32>>, [usize; 3], Vec<String>);
/// 2-D points and their labels.
pub type LabelledPoints = (Vec<(f32, f32)>, Vec<u32>);
/// A named curve of `(x, y)` points.
pub type Curve = (String, Vec<(f64, f64)>);

/// What `visualize --what` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The linear classifier's rows of `W` as images: one template per class.
    Templates,
    /// The CNN's first-layer filters.
    Filters,
    /// The first-layer weights of any model (the MLP's hidden units), as images.
    Weights,
    /// Where the model looks in one image (`--image FILE`): the gradient of its top score with
    /// respect to the pixels.
    Saliency,
}

impl What {
    /// What `visualize` draws for `model` when `--what` is not given: templates for the linear
    /// classifier, filters for the CNN, first-layer weights for the MLP.
    pub fn default_for(model: &Model) -> What {
        match model {
            Model::Linear(_) => What::Templates,
            Model::Cnn(_) => What::Filters,
            _ => What::Weights,
        }
    }

    /// The name as typed after `--what`.
    pub fn as_str(self) -> &'static str {
        match self {
            What::Templates => "templates",
            What::Filters => "filters",
            What::Weights => "weights",
            What::Saliency => "saliency",
        }
    }
}

/// The first layer of a checkpoint as images `[C, H, W]`, with a label per image.
pub fn first_layer_images(ck: &Checkpoint, what: What) -> Result<LabelledImages> {
    let kind = ck.meta.model.kind().as_str();
    ck.meta.image_input()?;
    match (what, &ck.model) {
        (What::Templates, Model::Linear(_)) | (What::Weights, Model::Linear(_) | Model::Mlp(_)) => {}
        (What::Filters | What::Weights, Model::Cnn(_)) => {}
        (What::Saliency, _) => {
            return Err(Error::invalid("--what saliency", "is drawn for one image: give it with --image FILE"))
        }
        _ => {
            return Err(Error::invalid(
                "--what",
                format!(
                    "{} does not apply to a {kind} model: templates for linear, filters for cnn, weights for \
                     linear, mlp or cnn",
                    what.as_str()
                ),
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

/// Where a model looks: the gradient of the top class's score with respect to the input pixels
/// (through candle's autograd), for one image.
#[derive(Debug, Clone)]
pub struct Saliency {
    /// The class whose score was differentiated (the top one).
    pub class: usize,
    /// `|∂ score / ∂ pixel|`, the largest over the colour channels, `h × w` values scaled to
    /// `[0, 1]` (row after row).
    pub map: Vec<f32>,
    /// The image as the model read it (resized to its input), `[C, H, W]` in `[0, 1]`.
    pub image: Vec<f32>,
    /// `[C, H, W]` of `image`.
    pub shape: [usize; 3],
}

/// The saliency map of `img` for `ck`'s model: the gradient of the top class's score (the
/// logit, before the softmax) with respect to the normalized input pixels. A model on hand-made
/// features has no gradient to the pixels: an error says so.
pub fn saliency(ck: &Checkpoint, img: &image::DynamicImage, device: &Device) -> Result<Saliency> {
    let spec = ck.meta.image_spec()?;
    if ck.meta.features.is_some() {
        return Err(Error::invalid(
            "saliency",
            "this model reads hand-made features, which have no gradient to the pixels",
        ));
    }
    let fitted = ck.meta.preprocess().images(std::slice::from_ref(img), &spec, device)?;
    let (xs, one) = (candle_core::Var::from_tensor(&fitted.xs)?, fitted.pixels);
    // The weights detached: the backward pass then computes the input's gradient only, not
    // every weight's as well.
    let logits = ck.model.detached().forward_t(xs.as_tensor(), false)?;
    let class = logits.argmax(D::Minus1)?.to_vec1::<u32>()?[0] as usize;
    let score = logits.narrow(1, class, 1)?.sum_all()?;
    let grads = score.backward()?;
    let g = grads.get(&xs).ok_or_else(|| Error::invalid("saliency", "the model gave no gradient to its input"))?;
    let g = g.abs()?.max(1)?.flatten_all()?.to_device(&Device::Cpu)?.to_vec1::<f32>()?; // [H·W]
    let top = g.iter().copied().fold(0f32, f32::max);
    let map = g.iter().map(|v| if top > 0.0 { v / top } else { 0.0 }).collect();
    Ok(Saliency { class, map, image: images(&one, &[0]).remove(0), shape: spec.shape() })
}

/// Un-normalized images of `ds` (values in `[0, 1]`) for picture grids.
pub fn images(ds: &Dataset, indices: &[usize]) -> Vec<Vec<f32>> {
    let d = ds.sample_dim();
    indices.iter().map(|&i| (0..d).map(|j| ds.pixels.get(i * d + j)).collect()).collect()
}

/// The 2-D points and labels of a toy data set.
pub fn points(ds: &Dataset) -> Result<LabelledPoints> {
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

/// The first `n` samples of `ds` (the images as stored, before features or normalization) with
/// their true and predicted classes and the predicted probability, predicted with test-time
/// augmentation `tta`.
pub fn sample_predictions(
    ck: &Checkpoint,
    ds: &Dataset,
    n: usize,
    tta: crate::tta::Tta,
    device: &Device,
) -> Result<crate::app::plot::Predictions> {
    let sub = ds.take(n);
    let pre = ck.meta.preprocess();
    let input = pre.input(&sub, false)?;
    let idx: Vec<usize> = (0..input.len()).collect();
    let (xs, _) = pre.batch(&input, &idx, device)?;
    let probs = tta.probabilities(&ck.model, &xs)?.to_vec2::<f32>()?;
    let mut predicted = vec![];
    let mut prob = vec![];
    for row in probs {
        let (i, p) = row.iter().enumerate().fold((0, f32::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
        predicted.push(ck.meta.classes[i].clone());
        prob.push(p);
    }
    let truth = sub.labels.iter().map(|&l| ck.meta.classes[l as usize].clone()).collect();
    Ok(crate::app::plot::Predictions { images: images(&sub, &idx), shape: sub.shape, truth, predicted, prob })
}

/// Writes the confusion heatmap of `report` (`ck` scored on `ds`) and a grid of sample
/// predictions into `dir`, named after `stem`; returns the files written.
pub fn evaluation_pictures(
    ck: &Checkpoint,
    ds: &Dataset,
    report: &crate::app::report::Report,
    dir: &std::path::Path,
    stem: &str,
    device: &Device,
) -> Result<Vec<std::path::PathBuf>> {
    let mut written = vec![];
    let heat = dir.join(format!("{stem}-confusion.png"));
    crate::app::plot::confusion_heatmap(&heat, &report.confusion.counts, &ck.meta.classes, &title(&ck.meta))?;
    written.push(heat);
    if ds.shape[1] > 1 && ds.shape[2] > 1 {
        let predictions = sample_predictions(ck, ds, 24, report.tta, device)?;
        let grid = dir.join(format!("{stem}-predictions.png"));
        let scale = if ds.shape[1] < 32 { 3 } else { 2 };
        crate::app::plot::prediction_grid(&grid, &predictions, 8, scale)?;
        written.push(grid);
    }
    Ok(written)
}

/// Trains the same model on the same data from the same seed with each optimizer in `runs`
/// (`(optimizer, learning rate)`), and returns each run's training loss against step.
pub fn compare_optimizers(
    train: &Dataset,
    model: &crate::models::Architecture,
    base: &crate::train::TrainConfig,
    runs: &[(crate::optim::OptimizerKind, f64)],
    device: &Device,
) -> Result<Vec<Curve>> {
    let data = crate::train::TrainData::measure(train, None, None, false)?;
    let mut out = vec![];
    for &(opt, lr) in runs {
        let mut cfg = base.clone();
        cfg.optimizer = crate::optim::OptimizerConfig::new(opt, lr);
        cfg.schedule = crate::optim::Schedule::Constant;
        let net = data.network(model, cfg.seed, device)?;
        let report = crate::train::fit(&net, &data, &cfg, device, crate::train::Session::new())?;
        let losses: Vec<(f64, f64)> = report
            .history
            .iter()
            .flat_map(|r| r.step_losses.iter())
            .enumerate()
            .map(|(i, &l)| (i as f64, l as f64))
            .collect();
        let name = format!("{} (lr {lr})", opt.as_str());
        out.push((name, losses));
    }
    Ok(out)
}
