//! On-the-fly augmentation of image batches: random crop after zero or mirror padding, horizontal
//! flip at random or alternating by epoch (airbench94's).
//!
//! Applied while a training batch is assembled from `u8` pixels, seeded per batch, and never at
//! evaluation. A flip mirrors left and right because images are stored in CHW order with rows
//! top to bottom (the CIFAR-10 binary orientation, which every loader keeps).

use serde::{Deserialize, Serialize};

/// Which augmentations to apply.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
    /// Pad by this many zero (mean) pixels and crop back at a random offset; 0 disables.
    pub crop_pad: usize,
    /// With `hflip`: flip a fixed random half of the images in even epochs and the other half in
    /// odd ones, instead of each image at random every epoch (airbench94's alternating flip).
    #[serde(default)]
    pub alternate_flip: bool,
    /// Pad by mirroring the image at its border (PyTorch's `reflect`) instead of with zeros.
    #[serde(default)]
    pub reflect: bool,
}

/// Whether image `index` is flipped in `epoch` under alternating flip: a coin fixed per image by
/// `seed`, inverted in odd epochs, so each image is seen both ways in every pair of epochs.
pub fn alternating_flip(seed: u64, index: usize, epoch: usize) -> bool {
    // splitmix64 of (seed, index): a well-mixed fixed bit per image.
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z & 1 == 1) ^ (epoch % 2 == 1)
}

/// Where source coordinate `s` of a side of `n` pixels reads from: itself inside, its mirror image
/// across the border pixel outside with `reflect` (`-1 → 1`, `n → n - 2`), nothing (a zero) without.
#[inline]
fn source(s: isize, n: usize, reflect: bool) -> Option<usize> {
    let n = n as isize;
    if (0..n).contains(&s) {
        return Some(s as usize);
    }
    if !reflect {
        return None;
    }
    let r = if s < 0 { -s } else { 2 * (n - 1) - s };
    (0..n).contains(&r).then_some(r as usize)
}

impl Augment {
    /// True when nothing is applied.
    pub fn is_off(&self) -> bool {
        !self.hflip && self.crop_pad == 0
    }

    /// Transforms one normalized CHW sample in place, reading the choice from `rng`; `flip`, when
    /// given, decides the flip instead (alternating flip). Padded pixels become 0, the mean of the
    /// normalized data, or mirror the border with `reflect`.
    pub fn apply(
        &self,
        sample: &mut [f32],
        scratch: &mut Vec<f32>,
        shape: [usize; 3],
        rng: &mut impl rand::Rng,
        flip: Option<bool>,
    ) {
        let [c, h, w] = shape;
        if h == 1 && w == 1 {
            return;
        }
        let flip = self.hflip && flip.unwrap_or_else(|| rng.random::<bool>());
        let (dy, dx) = if self.crop_pad > 0 {
            let p = self.crop_pad as i64;
            (rng.random_range(-p..=p) as isize, rng.random_range(-p..=p) as isize)
        } else {
            (0, 0)
        };
        if !flip && dx == 0 && dy == 0 {
            return;
        }
        scratch.clear();
        scratch.extend_from_slice(sample);
        for ch in 0..c {
            for y in 0..h {
                let sy = source(y as isize + dy, h, self.reflect);
                for x in 0..w {
                    let xx = if flip { w - 1 - x } else { x };
                    let v = match (sy, source(xx as isize + dx, w, self.reflect)) {
                        (Some(sy), Some(sx)) => scratch[ch * h * w + sy * w + sx],
                        _ => 0.0,
                    };
                    sample[ch * h * w + y * w + x] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn flip_mirrors_rows() {
        let aug = Augment { hflip: true, ..Augment::default() };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let orig: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut flipped = false;
        for _ in 0..20 {
            let mut s = orig.clone();
            aug.apply(&mut s, &mut vec![], [1, 2, 3], &mut rng, None);
            if s != orig {
                assert_eq!(s, vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
                flipped = true;
            }
        }
        assert!(flipped);
    }

    /// Each image is flipped in exactly one of two consecutive epochs, and about half of them in
    /// any one epoch; `apply` follows the decision it is given.
    #[test]
    fn alternating_flip_alternates() {
        let n = 10_000;
        for epoch in 0..4 {
            let flipped = (0..n).filter(|&i| alternating_flip(7, i, epoch)).count();
            assert!((4_800..5_200).contains(&flipped), "epoch {epoch}: {flipped} of {n} flipped");
            assert!((0..n).all(|i| alternating_flip(7, i, epoch) != alternating_flip(7, i, epoch + 1)));
        }
        assert!((0..n).any(|i| alternating_flip(7, i, 0) != alternating_flip(8, i, 0)), "the seed matters");
        let aug = Augment { hflip: true, alternate_flip: true, ..Augment::default() };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let orig: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut s = orig.clone();
        aug.apply(&mut s, &mut vec![], [1, 2, 3], &mut rng, Some(true));
        assert_eq!(s, vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
        let mut s = orig.clone();
        aug.apply(&mut s, &mut vec![], [1, 2, 3], &mut rng, Some(false));
        assert_eq!(s, orig);
    }

    /// Translations read mirrored pixels across the border with `reflect` (PyTorch's
    /// `F.pad(..., 'reflect')` then a crop) and zeros without.
    #[test]
    fn reflect_padding() {
        assert_eq!(source(-1, 5, true), Some(1));
        assert_eq!(source(-2, 5, true), Some(2));
        assert_eq!(source(5, 5, true), Some(3));
        assert_eq!(source(6, 5, true), Some(2));
        assert_eq!(source(-1, 5, false), None);
        assert_eq!(source(3, 5, false), Some(3));
        // A 4x4 image of four equal rows shifted by every offset in [-2, 2]: each output row is a
        // window of the reflect-padded row (vertical shifts reflect equal rows onto equal rows).
        let aug = Augment { crop_pad: 2, reflect: true, ..Augment::default() };
        let row = [10f32, 11., 12., 13.];
        let padded = [12f32, 11., 10., 11., 12., 13., 12., 11.]; // reflect by 2
        let mut seen = std::collections::HashSet::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let mut s = row.repeat(4);
            aug.apply(&mut s, &mut vec![], [1, 4, 4], &mut rng, None);
            assert!(s.chunks(4).all(|r| r == &s[..4]), "rows differ: {s:?}");
            let start = (0..=4).find(|&o| padded[o..o + 4] == s[..4]);
            assert!(start.is_some(), "{s:?} is no window of the reflect-padded row");
            seen.insert(start.unwrap());
        }
        assert_eq!(seen.len(), 5, "all five horizontal offsets occur");
    }
}
