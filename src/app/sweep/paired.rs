//! Telling trials apart: which validation images each trial got right, and the paired standard
//! error of the difference between two trials' accuracies on those same images.
//!
//! Two settings on one plateau disagree on a fraction of the images only, so their difference
//! is measured more precisely than either accuracy alone (a paired comparison), but not
//! exactly: on CIFAR-10's 10,000-image splits two linear models of nearby settings disagree on
//! 13-15% of the images, a standard error of about 0.27 points for their difference. A search
//! whose best trials lie closer than twice that has not told them apart.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which validation images a trial classified correctly, one bit per image. Serialized as
/// `"LEN:HEX"`: the number of images, then the bits in 64-bit words, lowest image first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Correct {
    len: usize,
    words: Vec<u64>,
}

impl Correct {
    /// Right or wrong on each image, from predicted classes and true labels (the same images,
    /// in the same order).
    pub fn new(predictions: &[u32], labels: &[u8]) -> Result<Self> {
        if predictions.len() != labels.len() {
            return Err(Error::invalid(
                "sweep",
                format!("{} predictions for {} validation labels", predictions.len(), labels.len()),
            ));
        }
        let mut words = vec![0u64; labels.len().div_ceil(64)];
        for (i, (&p, &l)) in predictions.iter().zip(labels).enumerate() {
            if p == l as u32 {
                words[i / 64] |= 1 << (i % 64);
            }
        }
        Ok(Correct { len: labels.len(), words })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Images classified correctly.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.count() as f64 / self.len as f64
    }
}

impl From<Correct> for String {
    fn from(c: Correct) -> String {
        let mut s = format!("{}:", c.len);
        for w in &c.words {
            s += &format!("{w:016x}");
        }
        s
    }
}

impl TryFrom<String> for Correct {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let (len, hex) = s.split_once(':').ok_or("expected LEN:HEX")?;
        let len: usize = len.parse().map_err(|e| format!("image count {len:?}: {e}"))?;
        let words = len.div_ceil(64);
        if hex.len() != 16 * words {
            return Err(format!("{len} images need {} hex digits, found {}", 16 * words, hex.len()));
        }
        let words = (0..words)
            .map(|i| u64::from_str_radix(&hex[16 * i..16 * i + 16], 16).map_err(|e| format!("word {i}: {e}")))
            .collect::<std::result::Result<Vec<u64>, String>>()?;
        if !len.is_multiple_of(64) && words.last().is_some_and(|&w| w >> (len % 64) != 0) {
            return Err(format!("bits set beyond image {len}"));
        }
        Ok(Correct { len, words })
    }
}

/// How two trials compare on the same images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Accuracy of the first minus that of the second.
    pub diff: f64,
    /// The standard error of `diff` over the images (paired: images both trials get right, or
    /// both wrong, add nothing to it).
    pub se: f64,
}

impl Paired {
    /// Whether the difference is within `k` standard errors of zero: the split does not tell
    /// the two apart.
    pub fn within(&self, k: f64) -> bool {
        self.diff.abs() <= k * self.se
    }
}

/// `a`'s accuracy against `b`'s on the same images; `None` when they were scored on different
/// numbers of images, or on fewer than two.
pub fn compare(a: &Correct, b: &Correct) -> Option<Paired> {
    if a.len != b.len || a.len < 2 {
        return None;
    }
    let (only_a, only_b) = a.words.iter().zip(&b.words).fold((0u64, 0u64), |(x, y), (&wa, &wb)| {
        (x + (wa & !wb).count_ones() as u64, y + (!wa & wb).count_ones() as u64)
    });
    // Per image d = a - b ∈ {-1, 0, 1}: its mean, and the sample variance of d over n images.
    let n = a.len as f64;
    let mean = (only_a as f64 - only_b as f64) / n;
    let mean_sq = (only_a + only_b) as f64 / n;
    let var = (mean_sq - mean * mean) * n / (n - 1.0);
    Some(Paired { diff: mean, se: (var.max(0.0) / n).sqrt() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_round_trips_through_its_text_form() {
        let labels: Vec<u8> = (0..130).map(|i| (i % 10) as u8).collect();
        let preds: Vec<u32> = (0..130).map(|i| if i % 3 == 0 { 99 } else { (i % 10) as u32 }).collect();
        let c = Correct::new(&preds, &labels).unwrap();
        assert_eq!((c.len(), c.count()), (130, 130 - 44));
        let text: String = c.clone().into();
        assert!(text.starts_with("130:") && text.len() == 4 + 3 * 16, "{text}");
        assert_eq!(Correct::try_from(text).unwrap(), c);
        assert!(Correct::new(&preds[1..], &labels).is_err());
    }

    #[test]
    fn bad_text_is_refused() {
        for bad in ["", "12", "x:00", "3:0", "3:000000000000000g", "3:0000000000000008", "65:ff"] {
            assert!(Correct::try_from(bad.to_string()).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Correct::try_from("3:0000000000000007".to_string()).unwrap().count(), 3);
    }

    #[test]
    fn paired_standard_error_is_that_of_the_per_image_differences() {
        // 8 images: a right on 0-5, b right on 2-7: d = [1, 1, 0, 0, 0, 0, -1, -1].
        let labels = [0u8; 8];
        let a = Correct::new(&[0, 0, 0, 0, 0, 0, 1, 1], &labels).unwrap();
        let b = Correct::new(&[1, 1, 0, 0, 0, 0, 0, 0], &labels).unwrap();
        let p = compare(&a, &b).unwrap();
        // mean 0; sample variance 4/7; se = sqrt(4/7/8).
        assert_eq!(p.diff, 0.0);
        assert!((p.se - (4.0f64 / 7.0 / 8.0).sqrt()).abs() < 1e-12, "{p:?}");
        assert!(p.within(2.0));
        // Identical answers: no difference and no error; a right everywhere b is wrong.
        assert_eq!(compare(&a, &a).unwrap(), Paired { diff: 0.0, se: 0.0 });
        let all = Correct::new(&[0; 8], &labels).unwrap();
        let none = Correct::new(&[1; 8], &labels).unwrap();
        assert_eq!(compare(&all, &none).unwrap(), Paired { diff: 1.0, se: 0.0 });
        assert!(!compare(&all, &none).unwrap().within(2.0));
        let short = Correct::new(&[0; 7], &[0; 7]).unwrap();
        assert!(compare(&a, &short).is_none());
    }
}
