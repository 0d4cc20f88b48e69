//! Successive halving: train every trial a few epochs, keep the better half, train those longer,
//! and so on, so that a search costs a small multiple of one full run instead of `trials` runs.

/// The epoch at which each rung ends, for `epochs` in all and `rungs` rungs: each rung doubles
/// the budget of the one before and the last ends at `epochs` (e.g. 20 epochs, 3 rungs: 5, 10,
/// 20). Rungs that would end at the same epoch are merged; one rung is a plain search.
pub fn rung_ends(epochs: usize, rungs: usize) -> Vec<usize> {
    let mut ends: Vec<usize> =
        (0..rungs.max(1)).rev().map(|r| (epochs >> r).max(1)).collect::<Vec<_>>().into_iter().collect();
    ends.dedup();
    ends
}

/// The trials that go on to the next rung: the best `ceil(n / 2)` of those scored, best first
/// (ties: the lower id first). A trial without a score (it diverged) never goes on.
pub fn survivors(scores: &[(usize, Option<f64>)]) -> Vec<usize> {
    let mut scored: Vec<(usize, f64)> = scores.iter().filter_map(|&(id, s)| s.map(|s| (id, s))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep = scores.len().div_ceil(2).min(scored.len());
    scored.into_iter().take(keep).map(|(id, _)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_double_up_to_the_budget() {
        assert_eq!(rung_ends(20, 3), vec![5, 10, 20]);
        assert_eq!(rung_ends(5, 1), vec![5]);
        assert_eq!(rung_ends(2, 4), vec![1, 2]);
    }

    #[test]
    fn the_better_half_survives_and_diverged_trials_never() {
        let scores = [(0, Some(0.3)), (1, Some(0.5)), (2, None), (3, Some(0.4)), (4, Some(0.5))];
        assert_eq!(survivors(&scores), vec![1, 4, 3]);
        assert_eq!(survivors(&[(0, None), (1, None)]), Vec::<usize>::new());
        assert_eq!(survivors(&[(7, Some(0.1))]), vec![7]);
    }
}
