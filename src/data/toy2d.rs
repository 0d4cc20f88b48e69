//! 2-D toy problems for decision boundaries: `spiral`, `circles`, `moons`, `blobs`.
//!
//! Points are stored as data sets of shape `[2, 1, 1]` (two "channels", x and y), so every model,
//! the training loop and normalization work on them unchanged. The training split and the test
//! split are drawn from different fixed seeds.

use super::shapes::standard_normal;
use super::{Dataset, Pixels, Split};
use rand::{Rng, SeedableRng};

/// The 2-D problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toy {
    /// CS231n's spiral: 3 interleaved arms, not linearly separable.
    Spiral,
    /// Two concentric circles.
    Circles,
    /// Two interleaving half moons.
    Moons,
    /// Four Gaussian blobs (linearly separable).
    Blobs,
}

impl Toy {
    /// The data set of this problem.
    pub fn dataset(self) -> super::DatasetName {
        use super::DatasetName;
        match self {
            Toy::Spiral => DatasetName::Spiral,
            Toy::Circles => DatasetName::Circles,
            Toy::Moons => DatasetName::Moons,
            Toy::Blobs => DatasetName::Blobs,
        }
    }
}

impl Toy {
    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Toy::Spiral => 3,
            Toy::Circles | Toy::Moons => 2,
            Toy::Blobs => 4,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Toy::Spiral => "spiral",
            Toy::Circles => "circles",
            Toy::Moons => "moons",
            Toy::Blobs => "blobs",
        }
    }
}

/// Default number of points per class.
pub const DEFAULT_PER_CLASS: usize = 100;

/// Generates `per_class` points of each class.
pub fn generate(toy: Toy, split: Split, per_class: usize) -> Dataset {
    let seed = match split {
        Split::Train => 0x2D_0001,
        Split::Test => 0x2D_0002,
    } + toy as u64 * 16;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let k = toy.classes();
    let mut xs = Vec::with_capacity(per_class * k * 2);
    let mut labels = Vec::with_capacity(per_class * k);
    for class in 0..k {
        for i in 0..per_class {
            let t = i as f32 / (per_class.max(2) - 1) as f32;
            let (x, y) = point(toy, class, t, &mut rng);
            xs.push(x);
            xs.push(y);
            labels.push(class as u8);
        }
    }
    // Interleave classes so that `take` and `split_tail` keep all of them.
    let n = labels.len();
    let order: Vec<usize> = (0..per_class).flat_map(|i| (0..k).map(move |c| c * per_class + i)).collect();
    let mut pts = Vec::with_capacity(n * 2);
    for &i in &order {
        pts.push(xs[2 * i]);
        pts.push(xs[2 * i + 1]);
    }
    let labels = order.iter().map(|&i| labels[i]).collect();
    let classes = (0..k).map(|c| format!("class {c}")).collect();
    Dataset::new(toy.name(), Pixels::F32(pts), labels, [2, 1, 1], classes).expect("generated data is consistent")
}

fn point(toy: Toy, class: usize, t: f32, rng: &mut impl Rng) -> (f32, f32) {
    match toy {
        Toy::Spiral => {
            let r = t;
            let theta = class as f32 * 4.0 + t * 4.0 + 0.2 * standard_normal(rng);
            (r * theta.sin(), r * theta.cos())
        }
        Toy::Circles => {
            let r = if class == 0 { 0.5 } else { 1.0 };
            let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            (r * a.cos() + 0.08 * standard_normal(rng), r * a.sin() + 0.08 * standard_normal(rng))
        }
        Toy::Moons => {
            let a = t * std::f32::consts::PI;
            let (x, y) = if class == 0 { (a.cos(), a.sin()) } else { (1.0 - a.cos(), 0.5 - a.sin()) };
            (x + 0.1 * standard_normal(rng), y + 0.1 * standard_normal(rng))
        }
        Toy::Blobs => {
            let centres = [(-2.0, -2.0), (2.0, -2.0), (-2.0, 2.0), (2.0, 2.0)];
            let (cx, cy) = centres[class % 4];
            (cx + 0.7 * standard_normal(rng), cy + 0.7 * standard_normal(rng))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_balance() {
        for toy in [Toy::Spiral, Toy::Circles, Toy::Moons, Toy::Blobs] {
            let ds = generate(toy, Split::Train, 10);
            assert_eq!(ds.len(), 10 * toy.classes());
            assert_eq!(ds.shape, [2, 1, 1]);
            assert_eq!(ds.class_counts(), vec![10; toy.classes()]);
        }
    }
}
