//! Training recipes: which GEMMs of a layer run N:M sparse, and which weight-update terms apply.
//!
//! One program is one iteration; recipes that change over training (MDGF's decaying mask,
//! SDGF's tightening N:M) are sequences of programs, each compiled from these options (see
//! `nmsat_sim::functional::recipe`).

use crate::prune::Nm;
use serde::Serialize;

/// How a model is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Recipe {
    /// Bidirectional weight pruning: FF weights N:M along the input dimension, BP weights N:M
    /// along the output dimension, WU dense, SR-STE term in the update.
    Bdwp,
    /// SR-STE: only the forward pass is N:M sparse; BP runs dense GEMMs on the FF-masked
    /// weights (the FF's own function, differentiated), the update is straight-through.
    SrSte,
    /// Dense training.
    Dense,
}

impl Recipe {
    /// Parses a recipe name as the CLI and the YAML spell it.
    pub fn parse(s: &str) -> Result<Recipe, String> {
        match s {
            "bdwp" => Ok(Recipe::Bdwp),
            "srste" => Ok(Recipe::SrSte),
            "dense" => Ok(Recipe::Dense),
            _ => Err(format!(
                "unknown recipe `{s}` (allowed: bdwp, srste, dense)"
            )),
        }
    }
}

/// How the BP weight mask is formed under BDWP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BpMask {
    /// Prune the dense weights along the output dimension.
    Independent,
    /// Bi-Mask style: prune the FF-pruned weights again along the output dimension.
    Product,
}

/// Options of one training iteration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainOptions {
    pub batch: u64,
    pub recipe: Recipe,
    /// The pattern; ignored by [`Recipe::Dense`].
    pub nm: Nm,
    pub bp_mask: BpMask,
    /// Layers kept dense whatever the recipe (e.g. the first conv and the classifier).
    pub dense_layers: Vec<String>,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum μ.
    pub momentum: f64,
    /// SR-STE decay λ on pruned weights (0: no SR-STE term).
    pub srste_lambda: f64,
    /// MDGF's decaying stage: a sparse layer's FF and BP run dense on its decayed weights, the
    /// N:M-kept weights unchanged and the others scaled by a factor the host writes to
    /// [`MASK_DECAY_TENSOR`] each iteration ([`crate::isa::VecOp::MaskDecay`]).
    pub mask_decay: bool,
}

/// The host-written DRAM tensor holding MDGF's decay factor (one INT16 value). The `.x` suffix
/// marks it as a host input for the scheduler's memory map.
pub const MASK_DECAY_TENSOR: &str = "mdgf.decay.x";

impl TrainOptions {
    /// Dense training of `batch` samples (the baseline every speedup is measured against).
    pub fn dense(batch: u64) -> TrainOptions {
        TrainOptions {
            batch,
            recipe: Recipe::Dense,
            nm: Nm { n: 1, m: 2 },
            bp_mask: BpMask::Independent,
            dense_layers: Vec::new(),
            lr: 0.01,
            momentum: 0.9,
            srste_lambda: 2e-4,
            mask_decay: false,
        }
    }

    /// BDWP at `nm` with the default options.
    pub fn bdwp(batch: u64, nm: Nm) -> TrainOptions {
        TrainOptions {
            recipe: Recipe::Bdwp,
            nm,
            ..TrainOptions::dense(batch)
        }
    }

    /// The sparsity of a layer's (FF, BP) GEMMs.
    ///
    /// A pruned dimension shorter than M cannot form one group (e.g. the 3 input channels of
    /// an image), so that GEMM stays dense.
    pub fn layer_sparsity(
        &self,
        layer: &str,
        ff_group_dim: u64,
        bp_group_dim: u64,
    ) -> (Option<Nm>, Option<Nm>) {
        if self.recipe == Recipe::Dense || self.dense_layers.iter().any(|l| l == layer) {
            return (None, None);
        }
        let fits = |d: u64| (d >= self.nm.m).then_some(self.nm);
        if self.mask_decay {
            return (None, None);
        }
        match self.recipe {
            Recipe::Bdwp => (fits(ff_group_dim), fits(bp_group_dim)),
            Recipe::SrSte => (fits(ff_group_dim), None),
            Recipe::Dense => (None, None),
        }
    }

    /// Whether the update carries the SR-STE decay term `λ·(1−mask)⊙W`.
    pub fn srste_term(&self) -> bool {
        matches!(self.recipe, Recipe::Bdwp | Recipe::SrSte) && self.srste_lambda != 0.0
    }

    /// The N:M pattern whose FF mask SR-STE's dense BP applies to a layer's weights.
    pub fn bp_masked(&self, layer: &str, ff_group_dim: u64) -> Option<Nm> {
        match self.layer_sparsity(layer, ff_group_dim, 0) {
            (Some(nm), None) if self.recipe == Recipe::SrSte => Some(nm),
            _ => None,
        }
    }

    /// The N:M pattern whose mask decays a layer's weights under [`TrainOptions::mask_decay`]:
    /// the layers whose FF would be sparse.
    pub fn decayed(&self, layer: &str, ff_group_dim: u64) -> Option<Nm> {
        let sparse = self.recipe != Recipe::Dense && !self.dense_layers.iter().any(|l| l == layer);
        (self.mask_decay && sparse && ff_group_dim >= self.nm.m).then_some(self.nm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparsity_follows_recipe_overrides_and_group_size() {
        let nm = Nm { n: 2, m: 8 };
        let mut o = TrainOptions::bdwp(4, nm);
        assert_eq!(o.layer_sparsity("c", 64, 64), (Some(nm), Some(nm)));
        assert_eq!(o.layer_sparsity("c", 3, 64), (None, Some(nm)));
        o.dense_layers = vec!["c".into()];
        assert_eq!(o.layer_sparsity("c", 64, 64), (None, None));
        o.recipe = Recipe::SrSte;
        assert_eq!(o.layer_sparsity("d", 64, 64), (Some(nm), None));
        assert_eq!(o.bp_masked("d", 64), Some(nm));
        assert_eq!(o.bp_masked("d", 4), None);
        assert_eq!(
            TrainOptions::dense(4).layer_sparsity("d", 64, 64),
            (None, None)
        );
        assert!(Recipe::parse("mdgf").is_err());
        o.recipe = Recipe::Bdwp;
        o.dense_layers.clear();
        o.mask_decay = true;
        assert_eq!(o.layer_sparsity("d", 64, 64), (None, None));
        assert_eq!(o.decayed("d", 64), Some(nm));
        assert_eq!(o.decayed("d", 4), None);
        assert!(o.srste_term());
        o.srste_lambda = 0.0;
        assert!(!o.srste_term());
    }
}
