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

    /// A text table with class names, for terminals: each column as wide as its class's full
    /// name or its largest count.
    pub fn render(&self, classes: &[String]) -> String {
        let label = classes.iter().map(|c| c.chars().count()).max().unwrap_or(0).max("true \\ pred".len());
        let widths: Vec<usize> = classes
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let widest = self.counts.iter().map(|row| row[j].to_string().len()).max().unwrap_or(1);
                c.chars().count().max(widest)
            })
            .collect();
        let mut s = format!("{:>label$} |", "true \\ pred");
        for (c, w) in classes.iter().zip(&widths) {
            s += &format!(" {c:>w$}");
        }
        s += "\n";
        for (i, row) in self.counts.iter().enumerate() {
            s += &format!("{:>label$} |", classes[i]);
            for (v, w) in row.iter().zip(&widths) {
                s += &format!(" {v:>w$}");
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

    #[test]
    fn table_shows_whole_class_names() {
        let mut c = Confusion::new(2);
        c.add(&[0, 1], &[0, 1]);
        let t = c.render(&["T-shirt/top".into(), "Trouser".into()]);
        assert!(t.contains(" T-shirt/top Trouser\n"), "{t}");
        assert_eq!(t.lines().map(|l| l.chars().count()).collect::<std::collections::BTreeSet<_>>().len(), 1, "{t}");
    }
}
