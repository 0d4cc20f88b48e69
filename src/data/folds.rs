//! Stratified, shuffled folds for cross-validation: every fold holds each class in the proportion
//! of the whole set, spread over the whole set, and which sample lands in which fold is a pure
//! function of the labels, the number of folds and a seed.
//!
//! Contiguous folds are only fair when the samples come in random order. The 2-D toy sets come
//! ordered along each arm, so a contiguous fold of `spiral` is one stretch of one arm that the
//! other folds never see (kNN's fold scores for k = 100 ranged from 0% to 100%). Here each
//! class's samples, in the order they come, are dealt in blocks of `k`: every block gives one
//! sample to each fold, in an order shuffled by the seed (blocked randomization). Each fold then
//! holds every class within one sample of its share and, where the order means something (a
//! position along an arm, a time), samples from all along it. Where the order is random, this is
//! a random stratified split.
//!
//! ```
//! use kindling::data::folds::stratified_folds;
//! let labels = [0u8, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
//! let fold = stratified_folds(&labels, 3, 7);
//! for f in 0..3 {
//!     let of = |c: u8| (0..12).filter(|&i| fold[i] == f && labels[i] == c).count();
//!     assert_eq!((of(0), of(1)), (2, 2), "each fold: two of each class");
//! }
//! assert_eq!(fold, stratified_folds(&labels, 3, 7), "the same seed, the same folds");
//! ```

use rand::{seq::SliceRandom, SeedableRng};

/// The fold (`0..k`) of each sample: each class's samples, in order, dealt in blocks of `k`, one
/// to each fold in an order shuffled by `seed`; the samples of a class's last, partial block go
/// to the folds that hold the fewest samples so far. The folds' sizes differ by at most one, and
/// so do the counts of each class in them.
pub fn stratified_folds<L: Copy + Into<u32>>(labels: &[L], k: usize, seed: u64) -> Vec<usize> {
    let k = k.max(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0xF01D);
    let classes = labels.iter().map(|&l| l.into() as usize + 1).max().unwrap_or(0);
    let mut members: Vec<Vec<usize>> = vec![vec![]; classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l.into() as usize].push(i);
    }
    let mut fold = vec![0; labels.len()];
    let mut sizes = vec![0usize; k];
    for block in members.iter().flat_map(|m| m.chunks(k)) {
        let mut folds: Vec<usize> = (0..k).collect();
        folds.shuffle(&mut rng);
        folds.sort_by_key(|&f| sizes[f]); // stable: ties stay in random order
        let chosen = &mut folds[..block.len()];
        chosen.shuffle(&mut rng);
        for (&i, &f) in block.iter().zip(chosen.iter()) {
            fold[i] = f;
            sizes[f] += 1;
        }
    }
    fold
}

/// `parts` disjoint parts of `size` samples each, as sorted indices, each holding every class in
/// about the proportion of the whole set and spread over it: the first `size` samples (classes
/// interleaved) of each of the first `parts` of `n / size` [`stratified_folds`]. `None` when the
/// parts do not fit in the `n` samples or `size` is 0.
pub fn stratified_parts<L: Copy + Into<u32>>(
    labels: &[L],
    size: usize,
    parts: usize,
    seed: u64,
) -> Option<Vec<Vec<usize>>> {
    let n = labels.len();
    if size == 0 || parts.checked_mul(size)? > n {
        return None;
    }
    let m = n / size;
    let fold = stratified_folds(labels, m, seed);
    Some(
        (0..parts)
            .map(|f| {
                // The fold's members, classes interleaved by their rank within the class, so
                // that its first `size` keep the proportions.
                let mut rank = std::collections::HashMap::<u32, usize>::new();
                let mut count = std::collections::HashMap::<u32, usize>::new();
                let inside: Vec<usize> = (0..n).filter(|&i| fold[i] == f).collect();
                for &i in &inside {
                    *count.entry(labels[i].into()).or_default() += 1;
                }
                let mut keyed: Vec<(f64, u32, usize)> = inside
                    .iter()
                    .map(|&i| {
                        let c = labels[i].into();
                        let r = rank.entry(c).or_default();
                        *r += 1;
                        ((*r as f64 - 0.5) / count[&c] as f64, c, i)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut part: Vec<usize> = keyed.into_iter().take(size).map(|(_, _, i)| i).collect();
                part.sort_unstable();
                part
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels sorted by class, as the toy sets come: 3 classes of unequal size.
    fn sorted_labels() -> Vec<u8> {
        [(0u8, 100), (1, 60), (2, 40)].iter().flat_map(|&(c, n)| std::iter::repeat_n(c, n)).collect()
    }

    #[test]
    fn folds_hold_every_class_in_proportion() {
        let labels = sorted_labels();
        for k in [2, 3, 5, 7, 9] {
            let fold = stratified_folds(&labels, k, 1);
            for f in 0..k {
                let size = fold.iter().filter(|&&x| x == f).count();
                assert!(size.abs_diff(labels.len() / k) <= 1, "k={k} fold {f}: {size}");
                for (c, n) in [(0u8, 100usize), (1, 60), (2, 40)] {
                    let got = (0..labels.len()).filter(|&i| fold[i] == f && labels[i] == c).count();
                    assert!(got == n / k || got == n.div_ceil(k), "k={k} fold {f} class {c}: {got} of {n}");
                }
            }
        }
    }

    #[test]
    fn folds_are_shuffled_by_the_seed_and_spread_along_the_order() {
        let labels = sorted_labels();
        let a = stratified_folds(&labels, 5, 3);
        assert_eq!(a, stratified_folds(&labels, 5, 3));
        assert_ne!(a, stratified_folds(&labels, 5, 4), "another seed, other folds");
        // Not dealt in a fixed rotation: the blocks' orders differ.
        let first_block: Vec<usize> = a[..5].to_vec();
        assert!((1..20).any(|b| a[b * 5..b * 5 + 5] != first_block[..]), "{a:?}");
        // Every run of 5 samples of class 0 gives one to each fold: spread along the order.
        for b in 0..20 {
            let mut f = a[b * 5..b * 5 + 5].to_vec();
            f.sort();
            assert_eq!(f, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn parts_are_disjoint_stratified_and_of_the_asked_size() {
        let labels = sorted_labels();
        let parts = stratified_parts(&labels, 40, 3, 1).unwrap();
        assert_eq!(parts.len(), 3);
        let mut all: Vec<usize> = parts.concat();
        assert!(parts.iter().all(|p| p.len() == 40));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 120, "disjoint");
        for p in &parts {
            for (c, share) in [(0u8, 20.0), (1, 12.0), (2, 8.0)] {
                let got = p.iter().filter(|&&i| labels[i] == c).count() as f64;
                assert!((got - share).abs() <= 2.0, "class {c}: {got} for {share}");
            }
        }
        assert_eq!(parts, stratified_parts(&labels, 40, 3, 1).unwrap());
        assert_eq!(stratified_parts(&labels, 40, 6, 1), None, "6 parts of 40 from 200");
        assert_eq!(stratified_parts(&labels, 0, 1, 1), None);
    }

    #[test]
    fn empty_and_single_class_sets() {
        assert!(stratified_folds::<u8>(&[], 3, 0).is_empty());
        let fold = stratified_folds(&[2u32; 10], 5, 0);
        assert!((0..5).all(|f| fold.iter().filter(|&&x| x == f).count() == 2));
    }
}
