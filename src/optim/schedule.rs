//! Learning-rate schedules, evaluated every step from the step index alone (so `--resume`
//! continues exactly where it left off).

use serde::{Deserialize, Serialize};

/// A learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine annealing from the base rate to 0 over the whole run (Loshchilov & Hutter, 2017),
    /// after a linear warm-up of `warmup` epochs.
    Cosine {
        /// Warm-up epochs (may be 0).
        warmup: usize,
    },
    /// Linear from `start`× the base rate up to the base rate at fraction `peak` of the run, then
    /// linear down to `end`× at its last step (airbench94's: 0.2, 0.23, 0.07).
    Triangle {
        /// Multiple of the base rate at step 0.
        start: f64,
        /// Fraction of the run's steps at which the base rate is reached.
        peak: f64,
        /// Multiple of the base rate at the last step.
        end: f64,
    },
}

impl Schedule {
    /// Parses `constant`, `step[:EVERY[:GAMMA]]`, `cosine[:WARMUP]` or
    /// `triangle[:START[:PEAK[:END]]]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize, default: f64| -> Result<f64, String> {
            parts
                .get(i)
                .map(|p| p.parse::<f64>().map_err(|_| format!("'{p}' in '{s}' is not a number")))
                .unwrap_or(Ok(default))
        };
        match parts[0] {
            "constant" if parts.len() == 1 => Ok(Schedule::Constant),
            "step" if parts.len() <= 3 => Ok(Schedule::Step { every: num(1, 10.0)? as usize, gamma: num(2, 0.1)? }),
            "cosine" if parts.len() <= 2 => Ok(Schedule::Cosine { warmup: num(1, 0.0)? as usize }),
            "triangle" if parts.len() <= 4 => {
                let (start, peak, end) = (num(1, 0.2)?, num(2, 0.23)?, num(3, 0.07)?);
                if !(0.0..1.0).contains(&peak) || start < 0.0 || end < 0.0 {
                    return Err(format!("'{s}': PEAK must be in [0, 1) and START, END at least 0"));
                }
                Ok(Schedule::Triangle { start, peak, end })
            }
            _ => Err(format!(
                "unknown schedule '{s}': use constant, step[:EVERY[:GAMMA]], cosine[:WARMUP] or \
                 triangle[:START[:PEAK[:END]]]"
            )),
        }
    }

    /// The learning rate at global step `step` (0-based) of `total` steps with
    /// `steps_per_epoch` steps per epoch.
    pub fn lr(&self, base: f64, step: usize, steps_per_epoch: usize, total: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => {
                base * gamma.powi((step / (every.max(1) * steps_per_epoch.max(1))) as i32)
            }
            Schedule::Cosine { warmup } => {
                let w = warmup * steps_per_epoch;
                if step < w {
                    return base * (step + 1) as f64 / w as f64;
                }
                let t = (step - w) as f64 / (total.saturating_sub(w)).max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Triangle { start, peak, end } => {
                let w = (total as f64 * peak) as usize;
                if step < w {
                    return base * (start + (1.0 - start) * step as f64 / w as f64);
                }
                let t = (step - w) as f64 / total.saturating_sub(w).max(1) as f64;
                base * (1.0 + (end - 1.0) * t)
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
            Schedule::Cosine { warmup } => write!(f, "cosine:{warmup}"),
            Schedule::Triangle { start, peak, end } => write!(f, "triangle:{start}:{peak}:{end}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_schedules() {
        let c = Schedule::Cosine { warmup: 0 };
        assert_eq!(c.lr(1.0, 0, 10, 100), 1.0);
        assert!((c.lr(1.0, 50, 10, 100) - 0.5).abs() < 1e-12);
        let s = Schedule::Step { every: 2, gamma: 0.5 };
        assert_eq!(s.lr(1.0, 19, 10, 100), 1.0);
        assert_eq!(s.lr(1.0, 20, 10, 100), 0.5);
        assert_eq!(Schedule::parse("step:3:0.2"), Ok(Schedule::Step { every: 3, gamma: 0.2 }));
        assert!(Schedule::parse("bogus").is_err());
        let t = Schedule::parse("triangle").unwrap();
        assert_eq!(t, Schedule::Triangle { start: 0.2, peak: 0.23, end: 0.07 });
        // 100 steps: 0.2 at 0, the base at step 23, 0.07 at step 100 (past the last).
        assert!((t.lr(2.0, 0, 10, 100) - 0.4).abs() < 1e-12);
        assert!((t.lr(2.0, 23, 10, 100) - 2.0).abs() < 1e-12);
        assert!((t.lr(2.0, 100, 10, 100) - 0.14).abs() < 1e-12);
        assert!((t.lr(1.0, 11, 10, 100) - (0.2 + 0.8 * 11.0 / 23.0)).abs() < 1e-12);
        assert!(Schedule::parse("triangle:0.2:1.5").is_err());
    }
}
