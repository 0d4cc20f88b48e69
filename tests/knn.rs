//! kNN against a brute-force reference (plain loops, its own vote), including ties; the vote on
//! hand-made cases; cross-validation; bad input.

mod common;

use candle_core::Tensor;
use kindling::models::knn::{cross_validate, vote, Distance, Knn};
use rand::{Rng, SeedableRng};

fn brute(train: &[Vec<f32>], labels: &[u32], q: &[f32], k: usize, dist: Distance, classes: usize) -> u32 {
    let mut d: Vec<(f64, usize)> = train
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let s: f64 = t
                .iter()
                .zip(q)
                .map(|(a, b)| match dist {
                    Distance::L1 => (*a as f64 - *b as f64).abs(),
                    Distance::L2 => (*a as f64 - *b as f64).powi(2),
                })
                .sum();
            (s, i)
        })
        .collect();
    // Nearest first; equal distances in training order.
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let nb: Vec<usize> = d.iter().take(k).map(|x| x.1).collect();
    // The most frequent label among them; between tied labels, the one met first going outwards.
    let mut counts = vec![0; classes];
    for &i in &nb {
        counts[labels[i] as usize] += 1;
    }
    let most = *counts.iter().max().unwrap();
    labels[*nb.iter().find(|&&i| counts[labels[i] as usize] == most).unwrap()]
}

#[test]
fn vote_takes_the_majority_and_breaks_ties_by_the_nearest() {
    let labels = [2, 0, 1, 0, 2, 1];
    // Neighbours nearest first, as indices into `labels`.
    assert_eq!(vote(&[1, 3, 0], &labels, 3), 0, "two 0s against one 2");
    assert_eq!(vote(&[0, 1, 3, 4], &labels, 3), 2, "2 and 0 tie at two votes; the nearest is a 2");
    assert_eq!(vote(&[1, 0, 4, 3], &labels, 3), 0, "the same tie, the nearest is a 0");
    assert_eq!(vote(&[5, 2, 0], &labels, 3), 1, "two 1s");
    assert_eq!(vote(&[4], &labels, 3), 2);
    assert_eq!(vote(&[5, 0, 1], &labels, 4), 1, "a three-way tie: the nearest's class; class 3 has no vote");
}

fn data(n: usize, d: usize, seed: u64, levels: u32) -> Vec<Vec<f32>> {
    // Few distinct levels so that distance ties and vote ties really occur.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| (0..d).map(|_| rng.random_range(0..levels) as f32).collect()).collect()
}

fn tensor(rows: &[Vec<f32>]) -> Tensor {
    let d = rows[0].len();
    Tensor::from_vec(rows.concat(), (rows.len(), d), &common::dev()).unwrap()
}

#[test]
fn agrees_with_brute_force() {
    for (dist, d, levels) in
        [(Distance::L2, 5, 4), (Distance::L1, 5, 4), (Distance::L2, 37, 256), (Distance::L1, 37, 256)]
    {
        let train = data(60, d, 1, levels);
        let queries = data(25, d, 2, levels);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let labels: Vec<u32> = (0..60).map(|_| rng.random_range(0..4)).collect();
        let mut knn = Knn::new(&tensor(&train), &labels, dist).unwrap();
        knn.chunk_bytes = 7 * 60 * 8; // several chunks of queries
        for k in [1, 2, 3, 4, 7, 60] {
            let got = knn.predict(&tensor(&queries), k).unwrap();
            let want: Vec<u32> = queries.iter().map(|q| brute(&train, &labels, q, k, dist, 4)).collect();
            assert_eq!(got, want, "{dist:?} d={d} k={k}");
        }
    }
}

#[test]
fn predict_many_matches_single_k() {
    let train = data(40, 6, 4, 256);
    let labels: Vec<u32> = (0..40).map(|i| i % 3).collect();
    let knn = Knn::new(&tensor(&train), &labels, Distance::L2).unwrap();
    let q = tensor(&data(10, 6, 5, 256));
    let many = knn.predict_many(&q, &[1, 5, 9]).unwrap();
    for (i, k) in [1, 5, 9].into_iter().enumerate() {
        assert_eq!(many[i], knn.predict(&q, k).unwrap());
    }
}

#[test]
fn cross_validation_prefers_a_sensible_k() {
    // Two well separated clusters with 10% label noise: k = 1 copies the noise, larger k does not.
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut rows = vec![];
    let mut labels = vec![];
    for i in 0..200 {
        let c = (i % 2) as u32;
        rows.push(vec![c as f32 * 4.0 + rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)]);
        labels.push(if rng.random_range(0..10) == 0 { 1 - c } else { c });
    }
    let cv =
        cross_validate(&tensor(&rows), &labels, Distance::L2, &[1, 15], 5, &indicatif::ProgressBar::hidden()).unwrap();
    assert_eq!(cv.fold_acc[0].len(), 5);
    let s = cv.summary();
    assert!(s[1].1 > s[0].1, "k=15 should beat k=1 on noisy labels: {s:?}");
    assert_eq!(cv.best_k(), 15);
}

#[test]
fn bad_input() {
    let train = tensor(&data(5, 3, 1, 4));
    let labels = [0, 1, 0, 1, 0];
    let knn = Knn::new(&train, &labels, Distance::L2).unwrap();
    let q = tensor(&data(2, 3, 2, 4));
    assert!(knn.predict(&q, 0).unwrap_err().to_string().contains("at least 1"));
    assert!(knn.predict(&q, 6).unwrap_err().to_string().contains("exceeds"));
    let wrong = tensor(&data(2, 4, 2, 4));
    assert!(knn.predict(&wrong, 1).unwrap_err().to_string().contains("features"));
    let empty = Tensor::zeros((0, 3), candle_core::DType::F32, &common::dev()).unwrap();
    assert!(Knn::new(&empty, &[], Distance::L1).unwrap_err().to_string().contains("empty"));
    assert!(Knn::new(&train, &[0, 1], Distance::L1).unwrap_err().to_string().contains("labels"));
    let err = cross_validate(&train, &labels, Distance::L2, &[1], 1, &indicatif::ProgressBar::hidden()).unwrap_err();
    assert!(err.to_string().contains("`folds`: 1: need between 2 and the 5 training samples"), "{err}");
}
