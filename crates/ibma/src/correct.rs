//! Multiple-comparison corrections of a fitted result, in one place: FDR and Bonferroni on the
//! p map (NiMARE's `FDRCorrector`, `FWECorrector(method="bonferroni")`), and the sign-flip
//! methods: voxel-level max-statistic FWE (`FWECorrector(method="montecarlo")`), cluster-size,
//! cluster-mass and TFCE FWE.

use crate::clusters::{permutation_clusters, ClusterRequests};
use crate::estimators::Estimator;
use crate::inputs::Prepared;
use crate::maps::Method;
use crate::options::{ClusterOptions, Flips};
use crate::progress::Progress;
use crate::{Error, MetaResult, Result};
use ibma_stats::correct::Correction;
use serde::{Deserialize, Serialize};

/// The corrections of a fit, in order, with the options of the sign-flip methods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Corrections {
    /// Methods, in the order asked for (no [`Method::Grf`]: GRF is part of FFX/MFX_GLM).
    #[serde(with = "method_names")]
    pub methods: Vec<Method>,
    /// Flips of montecarlo, cluster-size, cluster-mass and TFCE.
    #[serde(flatten)]
    pub flips: Flips,
    /// Cluster forming of cluster-size, cluster-mass and TFCE.
    #[serde(flatten)]
    pub clusters: ClusterOptions,
}

/// `--correct` names of the methods (and `fdr`, NiMARE's default FDR).
const NAMES: &[(Method, &str)] = &[
    (Method::FdrIndep, "fdr-indep"),
    (Method::FdrNegcorr, "fdr-negcorr"),
    (Method::Bonferroni, "bonferroni"),
    (Method::Montecarlo, "montecarlo"),
    (Method::ClusterSize, "cluster-size"),
    (Method::ClusterMass, "cluster-mass"),
    (Method::Tfce, "tfce"),
];

impl Method {
    /// The method named `name` on the command line.
    ///
    /// # Errors
    /// An unknown name, listing the valid ones.
    pub fn parse(name: &str) -> Result<Method> {
        let name = if name.eq_ignore_ascii_case("fdr") { "fdr-indep" } else { name };
        NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(m, _)| *m).ok_or_else(|| {
            let valid: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
            Error::Invalid(format!("--correct {name:?}: unknown method; valid methods: {}", valid.join(", ")))
        })
    }

    /// Its `--correct` name.
    pub fn command_name(self) -> &'static str {
        NAMES.iter().find(|(m, _)| *m == self).map_or("grf", |(_, n)| n)
    }

    /// The FDR or Bonferroni correction of the p map, if it is one.
    pub fn voxel(self) -> Option<Correction> {
        match self {
            Method::FdrIndep => Some(Correction::FdrIndep),
            Method::FdrNegcorr => Some(Correction::FdrNegcorr),
            Method::Bonferroni => Some(Correction::Bonferroni),
            _ => None,
        }
    }
}

impl Corrections {
    /// True if any method draws sign flips (and so refits on the inputs).
    pub fn permutes(&self) -> bool {
        self.methods.iter().any(|m| m.voxel().is_none())
    }

    /// True if a cluster method (cluster-size, cluster-mass, TFCE) is asked for.
    pub fn clusters_asked(&self) -> bool {
        self.cluster_requests().any()
    }

    fn cluster_requests(&self) -> ClusterRequests {
        ClusterRequests {
            size: self.methods.contains(&Method::ClusterSize),
            mass: self.methods.contains(&Method::ClusterMass),
            tfce: self.methods.contains(&Method::Tfce),
        }
    }

    /// Check the options before any data is read.
    ///
    /// # Errors
    /// A bad `cdt` with a cluster method; no flips or a seed above 2^32 − 1 with a sign-flip
    /// method.
    pub fn validate(&self) -> Result<()> {
        if self.clusters_asked() {
            self.clusters.validate("--correct")?;
        }
        if self.permutes() {
            self.flips.validate()?;
        }
        Ok(())
    }

    /// Apply every method to `result`, the fit of `est` on `inputs`: FDR and Bonferroni in
    /// order, the voxel-level FWE, then the cluster methods in one pass over the flips.
    ///
    /// # Errors
    /// A result without a p (or z) map, bad options, a failing refit, [`Error::Cancelled`].
    pub fn apply(
        &self,
        est: &dyn Estimator,
        inputs: &Prepared,
        result: &mut MetaResult,
        progress: &dyn Progress,
    ) -> Result<()> {
        for method in &self.methods {
            match (method.voxel(), method) {
                (Some(c), _) => result.correct(c)?,
                (None, Method::Montecarlo) => crate::inference::montecarlo(est, inputs, &self.flips, result, progress)?,
                _ => {}
            }
        }
        let requests = self.cluster_requests();
        if requests.any() {
            permutation_clusters(est, inputs, result, requests, &self.clusters, &self.flips, progress)?;
        }
        Ok(())
    }
}

/// Methods written by their `--correct` names.
mod method_names {
    use crate::maps::Method;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(methods: &[Method], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(methods.iter().map(|m| m.command_name()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Method>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|n| Method::parse(n).map_err(serde::de::Error::custom)).collect()
    }
}
