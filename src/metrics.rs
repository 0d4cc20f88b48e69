//! Accuracy and the confusion matrix.

use serde::{Deserialize, Serialize};

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// `counts[true][pred]`.
    pub counts: Vec<Vec<usize>>,
}

impl Confusion {
    /// An empty matrix for `k` classes.
    pub fn new(k: usize) -> Self {
        Confusion { counts: vec![vec![0; k]; k] }
    }

    /// Records predictions against labels.
    pub fn add(&mut self, truth: &[u32], pred: &[u32]) {
        for (&t, &p) in truth.iter().zip(pred) {
            self.counts[t as usize][p as usize] += 1;
        }
    }

    /// Number of samples recorded.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Fraction of correct predictions (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        correct as f64 / self.total().max(1) as f64
    }

    /// Accuracy within each true class.
    pub fn per_class(&self) -> Vec<f64> {
        self.counts.iter().enumerate().map(|(i, row)| row[i] as f64 / row.iter().sum::<usize>().max(1) as f64).collect()
    }

    /// A text table with class names, for terminals.
    pub fn render(&self, classes: &[String]) -> String {
        let short: Vec<String> = classes.iter().map(|c| c.chars().take(6).collect()).collect();
        let mut s = format!("{:>12} |", "true \\ pred");
        for c in &short {
            s += &format!(" {c:>6}");
        }
        s += "\n";
        for (i, row) in self.counts.iter().enumerate() {
            s += &format!("{:>12} |", classes[i].chars().take(12).collect::<String>());
            for v in row {
                s += &format!(" {v:>6}");
            }
            s += "\n";
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_accuracy() {
        let mut c = Confusion::new(3);
        c.add(&[0, 1, 2, 2], &[0, 2, 2, 2]);
        assert_eq!(c.total(), 4);
        assert!((c.accuracy() - 0.75).abs() < 1e-12);
        assert_eq!(c.per_class(), vec![1.0, 0.0, 1.0]);
        assert_eq!(c.counts[1][2], 1);
    }
}
