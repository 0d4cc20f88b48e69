//! On-the-fly augmentation of image batches: random crop after zero padding, horizontal flip.
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
}

impl Augment {
    /// True when nothing is applied.
    pub fn is_off(&self) -> bool {
        !self.hflip && self.crop_pad == 0
    }

    /// Transforms one normalized CHW sample in place, reading the choice from `rng`.
    /// Padded pixels become 0, the mean of the normalized data.
    pub fn apply(&self, sample: &mut [f32], scratch: &mut Vec<f32>, shape: [usize; 3], rng: &mut impl rand::Rng) {
        let [c, h, w] = shape;
        if h == 1 && w == 1 {
            return;
        }
        let flip = self.hflip && rng.random::<bool>();
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
                let sy = y as isize + dy;
                for x in 0..w {
                    let xx = if flip { w - 1 - x } else { x };
                    let sx = xx as isize + dx;
                    let v = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                        scratch[ch * h * w + sy as usize * w + sx as usize]
                    } else {
                        0.0
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
        let aug = Augment { hflip: true, crop_pad: 0 };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let orig: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut flipped = false;
        for _ in 0..20 {
            let mut s = orig.clone();
            aug.apply(&mut s, &mut vec![], [1, 2, 3], &mut rng);
            if s != orig {
                assert_eq!(s, vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
                flipped = true;
            }
        }
        assert!(flipped);
    }
}
