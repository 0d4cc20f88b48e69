//! The search space of a sweep: for each searched flag, a range (sampled uniformly, or
//! log-uniformly with `:log`) or a grid of values.
//!
//! ```
//! use kindling::app::sweep::space::{Axis, Space};
//! let lr = Axis::parse("lr", "1e-4..1e-1:log").unwrap();
//! let hidden = Axis::parse("hidden", "256,512,1024").unwrap();
//! let space = Space { axes: vec![lr, hidden] };
//! let trials = space.trials(24, 0);
//! assert_eq!(trials.len(), 24);
//! assert!(trials.iter().all(|t| t["lr"] >= 1e-4 && t["lr"] <= 1e-1));
//! assert!(trials.iter().all(|t| [256.0, 512.0, 1024.0].contains(&t["hidden"])));
//! ```

use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `train` flags a sweep can search, without their dashes, and whether each takes whole
/// numbers.
pub const SEARCHABLE: [(&str, bool); 8] = [
    ("lr", false),
    ("reg", false),
    ("momentum", false),
    ("weight-decay", false),
    ("dropout", false),
    ("label-smoothing", false),
    ("hidden", true),
    ("batch-size", true),
];

/// How one flag's values are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Values {
    /// Uniform in `[lo, hi]`, or log-uniform when `log`.
    Range {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
        /// Sample the logarithm uniformly (and draw the axis on a log scale).
        log: bool,
    },
    /// One of these, in order for a grid search, uniformly for a random one.
    Grid(Vec<f64>),
}

/// One searched flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The flag, without its dashes (`lr`, `weight-decay`, ...).
    pub name: String,
    /// Its values.
    pub values: Values,
    /// Whole numbers only (widths, batch sizes): draws are rounded.
    pub integer: bool,
}

impl Axis {
    /// Parses `LO..HI`, `LO..HI:log` or `A,B,C` for flag `name`. A plain number is a
    /// one-value grid. Every failure names the flag and says what is expected.
    pub fn parse(name: &str, spec: &str) -> Result<Axis> {
        let flag = format!("--{name}");
        let integer = SEARCHABLE.iter().find(|(n, _)| *n == name).map(|(_, i)| *i).ok_or_else(|| {
            let names: Vec<String> = SEARCHABLE.iter().map(|(n, _)| format!("--{n}")).collect();
            Error::invalid(&flag, format!("cannot be searched; these can: {}", names.join(", ")))
        })?;
        let number = |s: &str| -> Result<f64> {
            let v: f64 = s.trim().parse().map_err(|_| {
                Error::invalid(&flag, format!("'{s}' in '{spec}' is not a number: give LO..HI, LO..HI:log or A,B,C"))
            })?;
            if !v.is_finite() {
                return Err(Error::invalid(&flag, format!("'{s}' in '{spec}' is not finite")));
            }
            Ok(v)
        };
        let values = if let Some((range, rest)) = spec.split_once("..") {
            let (hi, log) = match rest.split_once(':') {
                Some((hi, "log")) => (hi, true),
                Some((_, scale)) => {
                    return Err(Error::invalid(&flag, format!("unknown scale ':{scale}' in '{spec}': only ':log'")))
                }
                None => (rest, false),
            };
            let (lo, hi) = (number(range)?, number(hi)?);
            if hi <= lo {
                return Err(Error::invalid(&flag, format!("'{spec}': the range must be increasing (LO < HI)")));
            }
            if log && lo <= 0.0 {
                return Err(Error::invalid(&flag, format!("'{spec}': a log range needs LO > 0")));
            }
            Values::Range { lo, hi, log }
        } else {
            let v = spec.split(',').map(number).collect::<Result<Vec<f64>>>()?;
            Values::Grid(v)
        };
        let all = match &values {
            Values::Range { lo, hi, .. } => vec![*lo, *hi],
            Values::Grid(v) => v.clone(),
        };
        if all.iter().any(|&v| v < 0.0) {
            return Err(Error::invalid(&flag, format!("'{spec}': values must not be negative")));
        }
        if integer && all.iter().any(|&v| v < 1.0) {
            return Err(Error::invalid(&flag, format!("'{spec}': values must be at least 1")));
        }
        Ok(Axis { name: name.to_string(), values, integer })
    }

    /// Whether the axis is drawn on a log scale.
    pub fn log(&self) -> bool {
        matches!(self.values, Values::Range { log: true, .. })
    }

    fn draw(&self, rng: &mut rand::rngs::StdRng) -> f64 {
        let v = match &self.values {
            Values::Range { lo, hi, log: true } => (rng.random_range(lo.ln()..=hi.ln())).exp(),
            Values::Range { lo, hi, log: false } => rng.random_range(*lo..=*hi),
            Values::Grid(v) => v[rng.random_range(0..v.len())],
        };
        if self.integer {
            v.round()
        } else {
            v
        }
    }
}

/// One trial's values, by flag name.
pub type Trial = BTreeMap<String, f64>;

/// All searched flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Space {
    /// One axis per searched flag.
    pub axes: Vec<Axis>,
}

impl Space {
    /// True when every axis is a grid: the search is their full product.
    pub fn is_grid(&self) -> bool {
        self.axes.iter().all(|a| matches!(a.values, Values::Grid(_)))
    }

    /// The trials to run: the full product of the grids when every axis is a grid (`n` is then
    /// ignored), else `n` random draws from `seed`: the same seed gives the same trials, which
    /// is what lets a killed search resume.
    pub fn trials(&self, n: usize, seed: u64) -> Vec<Trial> {
        if self.is_grid() {
            let mut out = vec![Trial::new()];
            for a in &self.axes {
                let Values::Grid(vs) = &a.values else { unreachable!("all grids") };
                out = out
                    .into_iter()
                    .flat_map(|t| {
                        vs.iter().map(move |&v| {
                            let mut t = t.clone();
                            t.insert(a.name.clone(), v);
                            t
                        })
                    })
                    .collect();
            }
            return out;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5EEB_5EEB);
        (0..n).map(|_| self.axes.iter().map(|a| (a.name.clone(), a.draw(&mut rng))).collect()).collect()
    }
}

/// Splits a `sweep` command line into its search space and the rest: a searchable flag whose
/// value is a range (`..`) or a list (`,`) is searched; everything else stays as `train` reads it.
pub fn split_args(args: impl IntoIterator<Item = String>) -> Result<(Space, Vec<String>)> {
    let mut space = Space::default();
    let mut rest = vec![];
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let name = flag.trim_start_matches("--");
        let searchable = flag.starts_with("--") && SEARCHABLE.iter().any(|(n, _)| *n == name);
        let value = match (&inline, searchable) {
            (Some(v), true) => Some(v.clone()),
            (None, true) => it.peek().filter(|v| v.contains("..") || v.contains(',')).cloned(),
            _ => None,
        };
        match value {
            Some(v) if v.contains("..") || v.contains(',') => {
                if inline.is_none() {
                    it.next();
                }
                if space.axes.iter().any(|x| x.name == name) {
                    return Err(Error::invalid(&flag, "given twice"));
                }
                space.axes.push(Axis::parse(name, &v)?);
            }
            _ => rest.push(a),
        }
    }
    Ok((space, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_grids_and_bad_specs() {
        let a = Axis::parse("lr", "1e-4..1e-1:log").unwrap();
        assert_eq!(a.values, Values::Range { lo: 1e-4, hi: 0.1, log: true });
        assert!(a.log());
        let a = Axis::parse("dropout", "0..0.5").unwrap();
        assert_eq!(a.values, Values::Range { lo: 0.0, hi: 0.5, log: false });
        assert_eq!(Axis::parse("hidden", "256,512").unwrap().values, Values::Grid(vec![256.0, 512.0]));
        for (name, spec, says) in [
            ("lr", "1e-1..1e-4", "increasing"),
            ("lr", "0..1:log", "LO > 0"),
            ("lr", "1e-4..1:ln", "scale"),
            ("lr", "a..b", "not a number"),
            ("lr", "1,x", "not a number"),
            ("hidden", "0,5", "at least 1"),
            ("reg", "-1..1", "negative"),
            ("seed", "1,2", "cannot be searched"),
        ] {
            let e = Axis::parse(name, spec).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(&format!("--{name}")), "{name} {spec}: {e}");
        }
    }

    #[test]
    fn log_draws_cover_the_decades_evenly() {
        let space = Space { axes: vec![Axis::parse("lr", "1e-4..1:log").unwrap()] };
        let t = space.trials(4000, 1);
        let below = t.iter().filter(|t| t["lr"] < 1e-2).count();
        // Half of the decades lie below 1e-2: about half of the draws do.
        assert!((1700..2300).contains(&below), "{below}");
        assert_eq!(space.trials(10, 1), space.trials(10, 1), "the same seed gives the same trials");
        assert_ne!(space.trials(10, 1), space.trials(10, 2));
    }

    #[test]
    fn grids_multiply_and_integers_round() {
        let space =
            Space { axes: vec![Axis::parse("hidden", "8,16").unwrap(), Axis::parse("lr", "0.1,0.01,0.001").unwrap()] };
        assert_eq!(space.trials(99, 0).len(), 6);
        let space = Space { axes: vec![Axis::parse("hidden", "10..20").unwrap()] };
        assert!(space.trials(50, 0).iter().all(|t| t["hidden"].fract() == 0.0));
    }

    #[test]
    fn command_lines_split_into_space_and_train_flags() {
        let argv =
            ["sweep", "--dataset", "shapes", "--lr", "1e-3..1:log", "--reg=0.1,1", "--epochs", "3", "--hidden", "64"];
        let (space, rest) = split_args(argv.iter().map(|s| s.to_string())).unwrap();
        assert_eq!(space.axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["lr", "reg"]);
        assert_eq!(rest, ["sweep", "--dataset", "shapes", "--epochs", "3", "--hidden", "64"]);
        assert!(split_args(["--lr", "1..2", "--lr", "3..4"].iter().map(|s| s.to_string())).is_err());
    }
}
