//! `shapes`: a 10-class 32×32 RGB image set that kindling draws itself, offline.
//!
//! Each image holds one shape (circle, square, triangle, ...) at a random position and scale, in a
//! random colour on a random background, with pixel noise. The same split and size always give the
//! same images: the training split is drawn from one fixed seed and the test split from another,
//! whatever `--seed` says (that drives initialization and shuffling only).
//! Position changes are the point: a linear template cannot follow them, a CNN can.

use super::{Dataset, Pixels, Split};
use rand::{Rng, SeedableRng};
use rand_distr_like::gaussian;

/// The class names in label order.
pub const CLASSES: [&str; 10] =
    ["circle", "square", "triangle", "cross", "ring", "stripes", "diamond", "x-cross", "frame", "checker"];

/// Default number of training images.
pub const DEFAULT_TRAIN: usize = 10_000;
/// Default number of test images.
pub const DEFAULT_TEST: usize = 2_000;

const SIZE: usize = 32;

/// Generates `n` images of `split`.
pub fn generate(split: Split, n: usize) -> Dataset {
    let seed = match split {
        Split::Train => 0x5EED_0001,
        Split::Test => 0x5EED_0002,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(n * 3 * SIZE * SIZE);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 10) as u8;
        draw(class, &mut rng, &mut pixels);
        labels.push(class);
    }
    Dataset::new("shapes", Pixels::U8(pixels), labels, [3, SIZE, SIZE], CLASSES.iter().map(|s| s.to_string()).collect())
        .expect("generated data is consistent")
}

/// Whether point `(dx, dy)` relative to the centre is inside shape `class` of half-size `r`.
fn inside(class: u8, dx: f32, dy: f32, r: f32) -> bool {
    let (ax, ay) = (dx.abs(), dy.abs());
    let bar = (r * 0.3).max(1.5);
    match class {
        0 => dx * dx + dy * dy <= r * r,
        1 => ax <= r * 0.85 && ay <= r * 0.85,
        2 => dy <= r * 0.8 && dy >= -r && ax <= (dy + r) * 0.55,
        3 => (ax <= bar && ay <= r) || (ay <= bar && ax <= r),
        4 => {
            let d = (dx * dx + dy * dy).sqrt();
            d <= r && d >= r * 0.55
        }
        5 => ax <= r && ay <= r && (((dy + r) / (r / 2.5)).floor() as i32) % 2 == 0,
        6 => ax + ay <= r,
        7 => ax <= r && ay <= r && ((dx - dy).abs() <= bar * 1.2 || (dx + dy).abs() <= bar * 1.2),
        8 => ax <= r && ay <= r && (ax >= r - bar || ay >= r - bar),
        _ => {
            let cell = (r / 2.0).max(2.0);
            ax <= r && ay <= r && ((((dx + r) / cell).floor() + ((dy + r) / cell).floor()) as i32) % 2 == 0
        }
    }
}

fn draw(class: u8, rng: &mut impl Rng, out: &mut Vec<u8>) {
    let r: f32 = rng.random_range(6.0..12.0);
    let cx: f32 = rng.random_range(r..SIZE as f32 - r);
    let cy: f32 = rng.random_range(r..SIZE as f32 - r);
    let bg: [f32; 3] = [rng.random_range(0.0..255.0), rng.random_range(0.0..255.0), rng.random_range(0.0..255.0)];
    // The shape's colour differs from the background by at least 120 in sum over channels.
    let fg = loop {
        let c: [f32; 3] = [rng.random_range(0.0..255.0), rng.random_range(0.0..255.0), rng.random_range(0.0..255.0)];
        if c.iter().zip(&bg).map(|(a, b)| (a - b).abs()).sum::<f32>() > 120.0 {
            break c;
        }
    };
    let start = out.len();
    out.resize(start + 3 * SIZE * SIZE, 0);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let hit = inside(class, x as f32 + 0.5 - cx, y as f32 + 0.5 - cy, r);
            let col = if hit { fg } else { bg };
            for (c, &v) in col.iter().enumerate() {
                let noisy = v + 12.0 * gaussian(rng);
                out[start + c * SIZE * SIZE + y * SIZE + x] = noisy.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// A tiny standard-normal sampler, so the generator needs no extra dependency.
mod rand_distr_like {
    use rand::Rng;

    /// One standard normal sample (Box-Muller).
    pub fn gaussian(rng: &mut impl Rng) -> f32 {
        let u1: f32 = rng.random_range(f32::EPSILON..1.0);
        let u2: f32 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

pub(crate) use rand_distr_like::gaussian as standard_normal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_balanced() {
        let a = generate(Split::Train, 50);
        let b = generate(Split::Train, 50);
        let t = generate(Split::Test, 50);
        assert!(matches!((&a.pixels, &b.pixels), (Pixels::U8(x), Pixels::U8(y)) if x == y));
        assert!(matches!((&a.pixels, &t.pixels), (Pixels::U8(x), Pixels::U8(y)) if x != y));
        assert_eq!(a.class_counts(), vec![5; 10]);
    }

    #[test]
    fn every_class_draws_something() {
        for class in 0..10u8 {
            let hits =
                (0..32 * 32).filter(|i| inside(class, (i % 32) as f32 - 16.0, (i / 32) as f32 - 16.0, 9.0)).count();
            assert!(hits > 30 && hits < 900, "class {class}: {hits} pixels");
        }
    }
}
