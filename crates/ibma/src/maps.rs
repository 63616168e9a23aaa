//! The names of a result's maps. [`Map`] is typed; its text (`Display`, `FromStr`) is NiMARE
//! 0.22.1's map name, which is also the output file name (`<name>.nii.gz`).

use std::fmt;
use std::str::FromStr;

/// A map of a result: one value per mask voxel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Map {
    /// z statistic.
    Z,
    /// p value.
    P,
    /// −log10 p.
    Logp,
    /// Degrees of freedom of the test.
    Dof,
    /// t statistic.
    T,
    /// F statistic (an F contrast).
    F,
    /// Pooled estimate (or contrast of coefficients).
    Est,
    /// Its standard error.
    Se,
    /// Its variance (FLAME).
    Varcope,
    /// Between-study variance τ².
    Tau2,
    /// τ² of variance group `g` (1-based), FLAME with groups.
    Tau2Group(u16),
    /// Within-study variance σ² (SampleSizeBasedLikelihood).
    Sigma2,
    /// Cochran's Q.
    Q,
    /// p of Q.
    QP,
    /// −log10 p of Q.
    QLogp,
    /// I² heterogeneity.
    I2,
    /// H heterogeneity.
    H,
    /// TFCE scores of the observed z map.
    Tfce,
    /// A corrected statistic.
    Corrected(Stat, Method),
}

/// The statistic of a corrected map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stat {
    /// z.
    Z,
    /// p.
    P,
    /// −log10 p.
    Logp,
}

/// A correction method, as it appears in a map name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Benjamini–Hochberg FDR (`_corr-FDR_method-indep`).
    FdrIndep,
    /// Benjamini–Yekutieli FDR (`_corr-FDR_method-negcorr`).
    FdrNegcorr,
    /// Bonferroni FWE (`_corr-FWE_method-bonferroni`).
    Bonferroni,
    /// Voxel-level max-statistic FWE by sign flips (`_level-voxel_corr-FWE_method-montecarlo`).
    Montecarlo,
    /// GRF cluster-level FWE (`_level-cluster_corr-FWE_method-grf`).
    Grf,
    /// Permutation cluster-size FWE (`_level-cluster_corr-FWE_method-size`).
    ClusterSize,
    /// Permutation cluster-mass FWE (`_level-cluster_corr-FWE_method-mass`).
    ClusterMass,
    /// TFCE with permutation FWE (`_level-voxel_corr-FWE_method-tfce`).
    Tfce,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 8] = [
        Method::FdrIndep,
        Method::FdrNegcorr,
        Method::Bonferroni,
        Method::Montecarlo,
        Method::Grf,
        Method::ClusterSize,
        Method::ClusterMass,
        Method::Tfce,
    ];

    /// The suffix a corrected map's name carries.
    pub fn suffix(self) -> &'static str {
        match self {
            Method::FdrIndep => "_corr-FDR_method-indep",
            Method::FdrNegcorr => "_corr-FDR_method-negcorr",
            Method::Bonferroni => "_corr-FWE_method-bonferroni",
            Method::Montecarlo => "_level-voxel_corr-FWE_method-montecarlo",
            Method::Grf => "_level-cluster_corr-FWE_method-grf",
            Method::ClusterSize => "_level-cluster_corr-FWE_method-size",
            Method::ClusterMass => "_level-cluster_corr-FWE_method-mass",
            Method::Tfce => "_level-voxel_corr-FWE_method-tfce",
        }
    }
}

impl Stat {
    const ALL: [Stat; 3] = [Stat::Z, Stat::P, Stat::Logp];

    fn name(self) -> &'static str {
        match self {
            Stat::Z => "z",
            Stat::P => "p",
            Stat::Logp => "logp",
        }
    }
}

impl Map {
    /// Maps with a fixed name, in the order NiMARE lists them.
    const PLAIN: [(Map, &'static str); 17] = [
        (Map::Z, "z"),
        (Map::P, "p"),
        (Map::Logp, "logp"),
        (Map::Dof, "dof"),
        (Map::T, "t"),
        (Map::F, "f"),
        (Map::Est, "est"),
        (Map::Se, "se"),
        (Map::Varcope, "varcope"),
        (Map::Tau2, "tau2"),
        (Map::Sigma2, "sigma2"),
        (Map::Q, "q"),
        (Map::QP, "q_p"),
        (Map::QLogp, "q_logp"),
        (Map::I2, "i2"),
        (Map::H, "h"),
        (Map::Tfce, "tfce"),
    ];

    /// The `z`, `p`, `logp` maps of `method`.
    pub fn corrected(method: Method) -> [Map; 3] {
        [Map::Corrected(Stat::P, method), Map::Corrected(Stat::Z, method), Map::Corrected(Stat::Logp, method)]
    }

    /// NIfTI intent of the map's values (dataset-format: z, t with its dof, p, or an estimate).
    pub fn intent(self) -> Intent {
        match self {
            Map::Z | Map::Corrected(Stat::Z, _) => Intent::Z,
            Map::T => Intent::T,
            Map::P | Map::Corrected(Stat::P, _) => Intent::P,
            Map::Est | Map::Se | Map::Varcope | Map::Tau2 | Map::Tau2Group(_) | Map::Sigma2 => Intent::Estimate,
            _ => Intent::None,
        }
    }
}

/// What a map's values are, for the NIfTI header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// A z statistic.
    Z,
    /// A t statistic.
    T,
    /// A p value.
    P,
    /// An estimate.
    Estimate,
    /// Anything else.
    None,
}

impl fmt::Display for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Map::Tau2Group(g) => write!(f, "tau2_g{g}"),
            Map::Corrected(stat, method) => write!(f, "{}{}", stat.name(), method.suffix()),
            plain => {
                let name = Map::PLAIN.iter().find(|(m, _)| m == plain).map_or("?", |(_, n)| n);
                f.write_str(name)
            }
        }
    }
}

/// A text that is not a map name ibma writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMap(pub String);

impl fmt::Display for UnknownMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a map name ibma writes", self.0)
    }
}

impl FromStr for Map {
    type Err = UnknownMap;

    fn from_str(text: &str) -> Result<Map, UnknownMap> {
        if let Some((map, _)) = Map::PLAIN.iter().find(|(_, n)| *n == text) {
            return Ok(*map);
        }
        if let Some(g) = text.strip_prefix("tau2_g").and_then(|g| g.parse::<u16>().ok()).filter(|&g| g > 0) {
            return Ok(Map::Tau2Group(g));
        }
        for stat in Stat::ALL {
            for method in Method::ALL {
                if text.strip_prefix(stat.name()) == Some(method.suffix()) {
                    return Ok(Map::Corrected(stat, method));
                }
            }
        }
        Err(UnknownMap(text.to_string()))
    }
}

impl serde::Serialize for Map {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Map {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A 4-D map: one volume per study of the fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerStudyMap {
    /// FLAME weights 1/(varcope + τ²).
    Weights,
}

impl fmt::Display for PerStudyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PerStudyMap::Weights => "weights",
        })
    }
}

impl serde::Serialize for PerStudyMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PerStudyMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PerStudyMap, D::Error> {
        match String::deserialize(d)?.as_str() {
            "weights" => Ok(PerStudyMap::Weights),
            other => Err(serde::de::Error::custom(format!("{other:?} is not a 4-D map name ibma writes"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back() {
        let mut all: Vec<Map> = Map::PLAIN.iter().map(|(m, _)| *m).collect();
        all.push(Map::Tau2Group(3));
        for s in Stat::ALL {
            all.extend(Method::ALL.iter().map(|&m| Map::Corrected(s, m)));
        }
        for map in all {
            assert_eq!(map.to_string().parse::<Map>(), Ok(map), "{map}");
        }
        assert_eq!(Map::Corrected(Stat::Z, Method::FdrIndep).to_string(), "z_corr-FDR_method-indep");
        assert!("tau2_g0".parse::<Map>().is_err() && "zz".parse::<Map>().is_err());
    }
}
