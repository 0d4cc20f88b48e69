//! k-nearest neighbour: "training" memorizes the data, prediction takes the majority label of the
//! `k` closest training samples.
//!
//! Not a [`candle_core::Module`]: explicit [`Knn::new`] and [`Knn::predict`]. Distances are computed
//! in chunks of queries so that peak memory stays bounded whatever the set sizes:
//! L2 as `‖a‖² − 2a·b + ‖b‖²`, one matrix product per chunk on the chosen device; L1 with a
//! parallel CPU kernel (or chunked tensor ops on other devices).
//!
//! Ties in the vote are broken by the nearest neighbour: among the classes with the most votes,
//! the one whose closest member is closest wins.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use kindling::models::knn::{Distance, Knn};
//! let train = Tensor::new(&[[0f32, 0.], [0., 1.], [5., 5.]], &Device::Cpu).unwrap();
//! let knn = Knn::new(&train, &[0, 0, 1], Distance::L2).unwrap();
//! let q = Tensor::new(&[[4f32, 4.]], &Device::Cpu).unwrap();
//! assert_eq!(knn.predict(&q, 1).unwrap(), vec![1]);
//! ```

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The distance between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distance {
    /// Manhattan: `Σ |a − b|`.
    L1,
    /// Euclidean: `√Σ (a − b)²` (ranked by its square).
    L2,
}

impl Distance {
    /// The name as typed after `--distance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Distance::L1 => "L1",
            Distance::L2 => "L2",
        }
    }
}

/// Default bound on the distance block computed at once, in bytes.
pub const DEFAULT_CHUNK_BYTES: usize = 256 << 20;

/// A fitted nearest-neighbour classifier.
#[derive(Debug)]
pub struct Knn {
    train: Tensor,
    train_sq_host: Option<Vec<f32>>,
    train_host: Option<Vec<f32>>,
    labels: Vec<u32>,
    num_classes: usize,
    distance: Distance,
    /// Upper bound on the bytes of one block of distances (queries × training samples).
    pub chunk_bytes: usize,
    /// Advanced by one per query answered (hidden unless set).
    pub progress: indicatif::ProgressBar,
}

impl Knn {
    /// Memorizes `train` `[N, D]` (f32, any device) and its labels.
    pub fn new(train: &Tensor, labels: &[u32], distance: Distance) -> Result<Self> {
        let (n, _d) = train
            .dims2()
            .map_err(|_| Error::invalid("knn", format!("training data must be [N, D], got {:?}", train.dims())))?;
        if n == 0 {
            return Err(Error::invalid("knn", "the training set is empty"));
        }
        if labels.len() != n {
            return Err(Error::invalid("knn", format!("{} labels for {n} training samples", labels.len())));
        }
        let train = train.to_dtype(DType::F32)?;
        let train_sq_host = match distance {
            Distance::L2 => Some(train.sqr()?.sum(1)?.to_vec1::<f32>()?), // [N]
            Distance::L1 => None,
        };
        let train_host = match (distance, train.device()) {
            (Distance::L1, Device::Cpu) => Some(train.flatten_all()?.to_vec1::<f32>()?),
            _ => None,
        };
        let num_classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
        Ok(Knn {
            train,
            train_sq_host,
            train_host,
            labels: labels.to_vec(),
            num_classes,
            distance,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            progress: indicatif::ProgressBar::hidden(),
        })
    }

    /// Number of memorized samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when nothing is memorized (never, after a successful `fit`).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn check(&self, queries: &Tensor, k: usize) -> Result<usize> {
        let (q, d) = queries
            .dims2()
            .map_err(|_| Error::invalid("knn", format!("queries must be [Q, D], got {:?}", queries.dims())))?;
        let (_, dt) = self.train.dims2()?;
        if d != dt {
            return Err(Error::invalid("knn", format!("queries have {d} features but the training samples {dt}")));
        }
        if k == 0 {
            return Err(Error::invalid("`k`", "k must be at least 1"));
        }
        if k > self.len() {
            return Err(Error::invalid("`k`", format!("k = {k} exceeds the {} training samples", self.len())));
        }
        Ok(q)
    }

    /// Queries per chunk so that one `[chunk, N]` block stays under `chunk_bytes`.
    fn chunk_rows(&self) -> usize {
        let per_row = self.len()
            * 4
            * match self.distance {
                Distance::L2 => 2, // the product and the assembled distances
                Distance::L1 => 1,
            };
        (self.chunk_bytes / per_row.max(1)).max(1)
    }

    /// Squared-L2 or L1 distances `[Q, N]` of a block of queries, on the host.
    pub fn distances(&self, queries: &Tensor) -> Result<Vec<f32>> {
        let queries = queries.to_dtype(DType::F32)?.to_device(self.train.device())?;
        match self.distance {
            Distance::L2 => {
                let qsq = queries.sqr()?.sum(1)?.to_vec1::<f32>()?; // [Q]
                let mut d = queries.matmul(&self.train.t()?)?.flatten_all()?.to_vec1::<f32>()?; // [Q·N]
                                                                                                // ‖a‖² − 2a·b + ‖b‖², assembled in place in one pass on the host.
                let n = self.len();
                let tsq = self.train_sq_host.as_ref().expect("L2 keeps squared norms");
                d.par_chunks_mut(n).zip(qsq.par_iter()).for_each(|(row, &q)| {
                    for (v, &t) in row.iter_mut().zip(tsq) {
                        *v = q - 2.0 * *v + t;
                    }
                });
                Ok(d)
            }
            Distance::L1 => match &self.train_host {
                Some(train) => {
                    let q = queries.flatten_all()?.to_vec1::<f32>()?;
                    Ok(l1_block(&q, train, self.train.dim(1)?))
                }
                None => {
                    let d = queries.unsqueeze(1)?.broadcast_sub(&self.train.unsqueeze(0)?)?.abs()?.sum(2)?;
                    Ok(d.flatten_all()?.to_vec1::<f32>()?)
                }
            },
        }
    }

    /// For each query, the indices of its `k` nearest training samples, nearest first
    /// (ties in distance broken by the lower index).
    pub fn neighbours(&self, queries: &Tensor, k: usize) -> Result<Vec<Vec<usize>>> {
        let q = self.check(queries, k)?;
        let n = self.len();
        let rows = self.chunk_rows();
        let mut out = Vec::with_capacity(q);
        let mut start = 0;
        while start < q {
            let len = rows.min(q - start);
            let dist = self.distances(&queries.narrow(0, start, len)?)?;
            let block: Vec<Vec<usize>> = dist.par_chunks(n).map(|row| nearest(row, k)).collect();
            out.extend(block);
            start += len;
            self.progress.inc(len as u64);
        }
        Ok(out)
    }

    /// Predicted labels of `queries` `[Q, D]` with `k` neighbours.
    pub fn predict(&self, queries: &Tensor, k: usize) -> Result<Vec<u32>> {
        Ok(self.predict_many(queries, &[k])?.remove(0))
    }

    /// Predictions for several values of `k` from one neighbour search (for cross-validation).
    pub fn predict_many(&self, queries: &Tensor, ks: &[usize]) -> Result<Vec<Vec<u32>>> {
        let kmax = ks.iter().copied().max().ok_or_else(|| Error::invalid("`k`", "no value of k given"))?;
        for &k in ks {
            self.check(queries, k)?;
        }
        let nb = self.neighbours(queries, kmax)?;
        Ok(ks.iter().map(|&k| nb.iter().map(|row| vote(&row[..k], &self.labels, self.num_classes)).collect()).collect())
    }
}

/// L1 distances between each query row and each training row, in parallel over queries.
fn l1_block(queries: &[f32], train: &[f32], d: usize) -> Vec<f32> {
    let n = train.len() / d;
    let mut out = vec![0f32; queries.len() / d * n];
    out.par_chunks_mut(n).zip(queries.par_chunks(d)).for_each(|(row, q)| {
        for (o, t) in row.iter_mut().zip(train.chunks_exact(d)) {
            *o = l1(q, t);
        }
    });
    out
}

/// `Σ |a − b|` with eight independent accumulators, so the compiler vectorizes it.
#[inline]
fn l1(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += (x[i] - y[i]).abs();
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y).abs();
    }
    s
}

/// Indices of the `k` smallest values, smallest first (ties: lower index first).
fn nearest(row: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    let cmp = |a: &usize, b: &usize| row[*a].total_cmp(&row[*b]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

/// Majority label among `neighbours` (nearest first); ties go to the class whose nearest member
/// comes first.
pub fn vote(neighbours: &[usize], labels: &[u32], num_classes: usize) -> u32 {
    let mut counts = vec![0usize; num_classes];
    let mut first = vec![usize::MAX; num_classes];
    for (rank, &i) in neighbours.iter().enumerate() {
        let c = labels[i] as usize;
        counts[c] += 1;
        first[c] = first[c].min(rank);
    }
    (0..num_classes).max_by(|&a, &b| counts[a].cmp(&counts[b]).then(first[b].cmp(&first[a]))).unwrap() as u32
}

/// Result of cross-validating `k`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidation {
    /// The values of `k` tried, in order.
    pub ks: Vec<usize>,
    /// `fold_acc[i][f]`: accuracy of `ks[i]` on fold `f`.
    pub fold_acc: Vec<Vec<f64>>,
}

impl CrossValidation {
    /// Mean and standard deviation over folds of each `k`.
    pub fn summary(&self) -> Vec<(usize, f64, f64)> {
        self.ks
            .iter()
            .zip(&self.fold_acc)
            .map(|(&k, accs)| {
                let m = accs.iter().sum::<f64>() / accs.len() as f64;
                let v = accs.iter().map(|a| (a - m).powi(2)).sum::<f64>() / accs.len() as f64;
                (k, m, v.sqrt())
            })
            .collect()
    }

    /// The `k` with the best mean accuracy (the smaller `k` on ties).
    pub fn best_k(&self) -> usize {
        self.summary()
            .into_iter()
            .fold((0, f64::NEG_INFINITY), |best, (k, m, _)| if m > best.1 { (k, m) } else { best })
            .0
    }
}

/// `folds`-fold cross-validation of each `k` in `ks` on `xs` `[N, D]`: the samples are split into
/// `folds` contiguous parts; each part is scored against the others. `progress` advances by one
/// per sample scored (`N` in all).
pub fn cross_validate(
    xs: &Tensor,
    labels: &[u32],
    distance: Distance,
    ks: &[usize],
    folds: usize,
    progress: &indicatif::ProgressBar,
) -> Result<CrossValidation> {
    let n = labels.len();
    if folds < 2 || folds > n {
        return Err(Error::invalid("`folds`", format!("{folds}: need between 2 and the {n} training samples")));
    }
    let bounds: Vec<usize> = (0..=folds).map(|f| f * n / folds).collect();
    let mut fold_acc = vec![Vec::with_capacity(folds); ks.len()];
    for f in 0..folds {
        let (a, b) = (bounds[f], bounds[f + 1]);
        let held = xs.narrow(0, a, b - a)?;
        let rest_idx: Vec<u32> = (0..a).chain(b..n).map(|i| i as u32).collect();
        let rest = xs.index_select(&Tensor::new(rest_idx.as_slice(), xs.device())?, 0)?;
        let rest_labels: Vec<u32> = rest_idx.iter().map(|&i| labels[i as usize]).collect();
        let mut knn = Knn::new(&rest, &rest_labels, distance)?;
        knn.progress = progress.clone();
        let preds = knn.predict_many(&held, ks)?;
        for (i, p) in preds.iter().enumerate() {
            let correct = p.iter().zip(&labels[a..b]).filter(|(x, y)| x == y).count();
            fold_acc[i].push(correct as f64 / (b - a) as f64);
        }
    }
    Ok(CrossValidation { ks: ks.to_vec(), fold_acc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_breaks_ties_by_nearest() {
        let labels = [0, 1, 1, 0];
        // Neighbours in order 3 (class 0), 1 (class 1), 2 (class 1), 0 (class 0): 2-2 tie, class 0 is nearest.
        assert_eq!(vote(&[3, 1, 2, 0], &labels, 2), 0);
        assert_eq!(vote(&[1, 3, 2], &labels, 2), 1);
    }

    #[test]
    fn l1_kernel_matches_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.3).collect();
        let b: Vec<f32> = (0..19).map(|i| (19 - i) as f32 * 0.2).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum();
        assert!((l1(&a, &b) - naive).abs() < 1e-4);
    }
}
