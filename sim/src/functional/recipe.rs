//! Training recipes over a whole run: which program each iteration executes.
//!
//! A [`TrainRecipe`] maps iteration `it` of `total` to a [`Stage`]: the options one program is
//! compiled from, and for MDGF the decay factor the host writes before the iteration. Masks
//! are never state: every program prunes (or decays) from the dense weights each iteration.
//! - `dense`, `bdwp` (FF and BP N:M, SR-STE term λ), `srste` (FF N:M, dense BP, SR-STE term λ):
//!   one program throughout.
//! - `mdgf-linear`, `mdgf-exp` (mask decay): over the first ⅔ of the iterations (the horizon
//!   D), FF and BP run dense on the weights with the dropped ones scaled by
//!   `d = max(0, 1 − it/D)` or `d = exp(−ln 256 · it/D)`; from D on, `d = 0` and the BDWP
//!   program runs (no SR-STE term: the decay already drove the dropped weights out).
//! - `sdgf` (stepwise N:M): the patterns dense, (M−1):M, then N halving from M/2 down to the
//!   target (dense → 7:8 → 4:8 → 2:8 → 1:8 for 1:8), the stages before the target sharing the
//!   first ⅔ of the iterations equally; each a BDWP program without SR-STE term.

use nmsat_compiler::graph::{Recipe, TrainOptions};
use nmsat_compiler::prune::Nm;

/// A recipe over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TrainRecipe {
    Dense,
    Bdwp,
    SrSte,
    MdgfLinear,
    MdgfExp,
    Sdgf,
}

/// The program and host inputs of one iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub opts: TrainOptions,
    /// MDGF's decay factor of the dropped weights, while it decays.
    pub decay: Option<f64>,
}

impl Stage {
    /// The N:M pattern of the pre-generated weight forms, if the program prunes.
    pub fn pattern(&self) -> Option<Nm> {
        (self.opts.recipe != Recipe::Dense && !self.opts.mask_decay).then_some(self.opts.nm)
    }

    /// A short label: `dense`, `2:8`, `decay 0.42`.
    pub fn label(&self) -> String {
        match (self.decay, self.pattern()) {
            (Some(d), _) => format!("decay {d:.3}"),
            (None, Some(nm)) => nm.to_string(),
            (None, None) => "dense".into(),
        }
    }
}

impl TrainRecipe {
    /// Every recipe, in the order the CLI lists them.
    pub const ALL: [TrainRecipe; 6] = [
        TrainRecipe::Dense,
        TrainRecipe::Bdwp,
        TrainRecipe::SrSte,
        TrainRecipe::MdgfLinear,
        TrainRecipe::MdgfExp,
        TrainRecipe::Sdgf,
    ];

    /// The name the CLI spells.
    pub fn name(self) -> &'static str {
        match self {
            TrainRecipe::Dense => "dense",
            TrainRecipe::Bdwp => "bdwp",
            TrainRecipe::SrSte => "srste",
            TrainRecipe::MdgfLinear => "mdgf-linear",
            TrainRecipe::MdgfExp => "mdgf-exp",
            TrainRecipe::Sdgf => "sdgf",
        }
    }

    /// Parses a name of [`TrainRecipe::ALL`].
    pub fn parse(s: &str) -> Result<TrainRecipe, String> {
        TrainRecipe::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = TrainRecipe::ALL.iter().map(|r| r.name()).collect();
                format!("unknown recipe `{s}` (allowed: {})", names.join(", "))
            })
    }

    /// SDGF's patterns for target `nm`: dense (None), (M−1):M, M/2:M, … down to the target.
    pub fn sdgf_patterns(nm: Nm) -> Vec<Option<Nm>> {
        let mut p = vec![None];
        let mut n = nm.m - 1;
        while n > nm.n {
            p.push(Some(Nm { n, m: nm.m }));
            n = if n == nm.m - 1 { nm.m / 2 } else { n / 2 };
            n = n.max(nm.n);
        }
        p.push(Some(nm));
        p
    }

    /// Every N:M pattern a run at `nm` compiles for (the description must support them).
    pub fn patterns(self, nm: Nm) -> Vec<Nm> {
        match self {
            TrainRecipe::Dense => vec![],
            TrainRecipe::Sdgf => TrainRecipe::sdgf_patterns(nm)
                .into_iter()
                .flatten()
                .collect(),
            _ => vec![nm],
        }
    }

    /// The stage of iteration `it` of `total`, from the run's options `base` (its batch,
    /// target pattern, learning rate, momentum, λ and dense layers).
    pub fn stage(self, base: &TrainOptions, it: u64, total: u64) -> Stage {
        let horizon = (total * 2 / 3).max(1);
        let with = |recipe: Recipe, nm: Nm, lambda: f64| TrainOptions {
            recipe,
            nm,
            srste_lambda: lambda,
            mask_decay: false,
            ..base.clone()
        };
        let plain = Stage {
            opts: with(Recipe::Bdwp, base.nm, 0.0),
            decay: None,
        };
        match self {
            TrainRecipe::Dense => Stage {
                opts: with(Recipe::Dense, base.nm, base.srste_lambda),
                decay: None,
            },
            TrainRecipe::Bdwp | TrainRecipe::SrSte => Stage {
                opts: with(
                    if self == TrainRecipe::Bdwp {
                        Recipe::Bdwp
                    } else {
                        Recipe::SrSte
                    },
                    base.nm,
                    base.srste_lambda,
                ),
                decay: None,
            },
            TrainRecipe::MdgfLinear | TrainRecipe::MdgfExp if it < horizon => {
                let x = it as f64 / horizon as f64;
                let d = if self == TrainRecipe::MdgfLinear {
                    1.0 - x
                } else {
                    (-(256f64.ln()) * x).exp()
                };
                Stage {
                    opts: TrainOptions {
                        mask_decay: true,
                        ..plain.opts
                    },
                    decay: Some(d),
                }
            }
            TrainRecipe::MdgfLinear | TrainRecipe::MdgfExp => plain,
            TrainRecipe::Sdgf => {
                let p = TrainRecipe::sdgf_patterns(base.nm);
                let steps = p.len() as u64 - 1;
                let s = if it < horizon {
                    (it * steps / horizon) as usize
                } else {
                    steps as usize
                };
                match p[s] {
                    Some(nm) => Stage {
                        opts: with(Recipe::Bdwp, nm, 0.0),
                        decay: None,
                    },
                    None => Stage {
                        opts: with(Recipe::Dense, base.nm, 0.0),
                        decay: None,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nm(n: u64, m: u64) -> Nm {
        Nm { n, m }
    }

    #[test]
    fn sdgf_tightens_to_the_target() {
        let show = |t: Nm| {
            TrainRecipe::sdgf_patterns(t)
                .iter()
                .map(|p| p.map_or("dense".to_string(), |p| p.to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(show(nm(1, 8)), "dense 7:8 4:8 2:8 1:8");
        assert_eq!(show(nm(2, 8)), "dense 7:8 4:8 2:8");
        assert_eq!(show(nm(2, 4)), "dense 3:4 2:4");
        assert_eq!(show(nm(1, 4)), "dense 3:4 2:4 1:4");
        assert_eq!(show(nm(7, 8)), "dense 7:8");
        let base = TrainOptions::bdwp(8, nm(1, 8));
        let labels: Vec<String> = [0, 14, 15, 30, 59, 60, 89]
            .iter()
            .map(|&it| TrainRecipe::Sdgf.stage(&base, it, 90).label())
            .collect();
        assert_eq!(
            labels,
            ["dense", "dense", "7:8", "4:8", "2:8", "1:8", "1:8"]
        );
    }

    #[test]
    fn mdgf_decays_then_prunes() {
        let base = TrainOptions::bdwp(8, nm(2, 8));
        let s = TrainRecipe::MdgfLinear.stage(&base, 30, 90);
        assert_eq!(s.decay, Some(0.5));
        assert!(s.opts.mask_decay && s.pattern().is_none());
        let e = TrainRecipe::MdgfExp.stage(&base, 59, 90).decay.unwrap();
        assert!(e > 1.0 / 256.0 && e < 0.01, "{e}");
        let end = TrainRecipe::MdgfExp.stage(&base, 60, 90);
        assert_eq!((end.decay, end.pattern()), (None, Some(nm(2, 8))));
        assert!(!end.opts.srste_term());
        assert!(TrainRecipe::Bdwp.stage(&base, 0, 9).opts.srste_term());
        assert!(TrainRecipe::parse("mdgf")
            .unwrap_err()
            .contains("mdgf-linear"));
    }
}
