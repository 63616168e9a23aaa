//! Option types shared by several estimators, and how options are written in NiMARE's words:
//! every estimator serialises (saved estimators, `result.json`, `--set key=value`) with
//! NiMARE's parameter names and values, through the helpers here.

use crate::Result;
use ibma_glm::flame::Optimizer;
use ibma_glm::likelihood::Method;
use ibma_glm::robust::{WeightScheme, Working, DEFAULT_RHO};
use ibma_glm::SmallSampleCorrection;
use ibma_io::Interpolation;
use ibma_stats::cluster::Connectivity;
use ibma_stats::transform::p_to_z;
use ibma_stats::Tail;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a dataset's maps become an estimator's inputs; every estimator has these.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputOptions {
    /// NiMARE `aggressive_mask`: keep only voxels where every study has data (default false:
    /// each coverage pattern is fitted on its own studies).
    pub aggressive_mask: bool,
    /// Derive missing map types from the ones a study has.
    pub derive: Derive,
    /// Resample maps on another grid onto the mask grid (NiMARE `resample__interpolation`).
    #[serde(alias = "resample__interpolation", with = "resample")]
    pub resample: Option<Interpolation>,
    /// Which images are dependent (NiMARE `groupby`; docs/dependence.md).
    pub groupby: GroupBy,
}

impl InputOptions {
    /// The covariate `groupby` names (empty for the other choices), for messages.
    pub fn groupby_name(&self) -> &str {
        match &self.groupby {
            GroupBy::Covariate(name) => name,
            _ => "",
        }
    }
}

/// Which images share participants and so are dependent (NiMARE 0.22.1's `groupby`,
/// docs/dependence.md): images with one label form a group; groups are independent.
///
/// Written `study`, `none`, a covariate's name, or (in JSON) a list of labels; read also as
/// NiMARE's values: `null` (study) and `false` (none). `study`, `none` and `false` are not
/// taken as covariate names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GroupBy {
    /// By study id (NiMARE `groupby=None`, the default): an image entry's `study`, else its id.
    #[default]
    Study,
    /// Every image independent (NiMARE `groupby=False`); a warning says when images share a
    /// study, since that inflates significance.
    Independent,
    /// By the value of a covariate (NiMARE `groupby="column"`), e.g. a sample id; an image
    /// without it is dropped.
    Covariate(String),
    /// One label per image of the [`crate::Inputs`], in their order (NiMARE `groupby=[...]`).
    Labels(Vec<String>),
}

impl Serialize for GroupBy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            GroupBy::Study => s.serialize_str("study"),
            GroupBy::Independent => s.serialize_str("none"),
            GroupBy::Covariate(c) => s.serialize_str(c),
            GroupBy::Labels(labels) => labels.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for GroupBy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<GroupBy, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let invalid = || {
            serde::de::Error::custom(format!(
                "invalid value {value}; valid values: study, none, a covariate name, or a list of labels (one per image)"
            ))
        };
        match &value {
            serde_json::Value::Null => Ok(GroupBy::Study),
            serde_json::Value::Bool(false) => Ok(GroupBy::Independent),
            serde_json::Value::String(t) if t.eq_ignore_ascii_case("study") => Ok(GroupBy::Study),
            serde_json::Value::String(t) if ["none", "false"].contains(&t.to_ascii_lowercase().as_str()) => {
                Ok(GroupBy::Independent)
            }
            serde_json::Value::String(t) if !t.trim().is_empty() => Ok(GroupBy::Covariate(t.trim().to_string())),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(t) => Some(t.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
                .map(GroupBy::Labels)
                .ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }
}

/// The working model of the regression estimators with dependence groups (NiMARE's
/// `weight_scheme` and `rho`, passed to PyMARE): how a group's images are weighted and their
/// assumed correlation. Only models with dependence use it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkingModel {
    /// `rescale` (a group weighs as one image), `individual` or `collapse`.
    #[serde(with = "named")]
    pub weight_scheme: WeightScheme,
    /// Within-group correlation in [0, 1] (`rescale`, `collapse`).
    pub rho: f64,
}

impl Default for WorkingModel {
    fn default() -> Self {
        WorkingModel { weight_scheme: WeightScheme::Rescale, rho: DEFAULT_RHO }
    }
}

impl WorkingModel {
    /// ρ must lie in [0, 1].
    ///
    /// # Errors
    /// [`crate::Error::Param`] naming `rho`.
    pub fn validate(&self, estimator: &str) -> Result<()> {
        if (0.0..=1.0).contains(&self.rho) {
            Ok(())
        } else {
            Err(crate::Error::param(estimator, "rho", &self.rho.to_string(), "a number in [0, 1]"))
        }
    }

    /// The kernels' form.
    pub fn working(&self) -> Working {
        Working { scheme: self.weight_scheme, rho: self.rho }
    }
}

/// Whether missing map types are derived (se ↔ varcope, t from con/se, z ↔ t with a sample
/// size, con from t·se).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Derive {
    /// For an ibma-dataset, not for NiMARE's JSON (which NiMARE does not complete).
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl Derive {
    /// Whether to derive for a dataset read from `source`.
    pub fn applies(self, source: ibma_io::Source) -> bool {
        match self {
            Derive::Auto => source == ibma_io::Source::IbmaDataset,
            Derive::Always => true,
            Derive::Never => false,
        }
    }
}

/// `derive` is written `"auto"`, `true` or `false`.
impl Serialize for Derive {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Derive::Auto => s.serialize_str("auto"),
            Derive::Always => s.serialize_bool(true),
            Derive::Never => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for Derive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Derive, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Bool(bool),
            Str(String),
        }
        match Text::deserialize(d)? {
            Text::Bool(true) => Ok(Derive::Always),
            Text::Bool(false) => Ok(Derive::Never),
            Text::Str(s) if s.eq_ignore_ascii_case("auto") => Ok(Derive::Auto),
            Text::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Derive::Always),
            Text::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Derive::Never),
            Text::Str(s) => {
                Err(serde::de::Error::custom(format!("invalid value {s:?}; valid values: auto, true, false")))
            }
        }
    }
}

/// The null a one-sample t-test is referred to (the seed API's `null`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Null {
    /// Student t with K − 1 dof.
    #[default]
    Theoretical,
    /// Voxelwise sign-flip null with fair flips (NiMARE 0.0.1's biased flips corrected).
    Empirical,
}

/// The sign flips of a permutation: how many, from which seed, and whether to enumerate all
/// 2^K when there are no more than `n_iters` (then p is the exact permutation p-value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Flips {
    /// Number of sign flips (`--n-iters`, NiMARE's default 5000).
    pub n_iters: usize,
    /// Seed of NiMARE's MT19937 flip stream (`--seed`, NiMARE's default 42).
    pub seed: u64,
    /// Enumerate every sign vector when 2^K − 1 ≤ `n_iters`.
    pub exact_flips: bool,
}

impl Flips {
    /// At least one flip, and a seed NiMARE's 32-bit generator takes.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if self.n_iters == 0 {
            return Err(crate::Error::Invalid("--n-iters must be at least 1".into()));
        }
        if u32::try_from(self.seed).is_err() {
            return Err(crate::Error::Invalid(format!("--seed {}: must be at most {}", self.seed, u32::MAX)));
        }
        Ok(())
    }

    /// The flip matrix for `n_studies` (see [`ibma_stats::permute::FlipMatrix::for_run`]).
    ///
    /// # Errors
    /// As [`Flips::validate`].
    pub fn matrix(&self, n_studies: usize) -> Result<ibma_stats::permute::FlipMatrix> {
        Ok(self
            .stream(n_studies)?
            .next_chunk(usize::MAX)
            .unwrap_or_else(|| ibma_stats::permute::FlipMatrix::from_signs(n_studies, Vec::new())))
    }

    /// The flips for `n_studies` as a stream of chunks (a long run never holds all its flips).
    ///
    /// # Errors
    /// As [`Flips::validate`].
    pub fn stream(&self, n_studies: usize) -> Result<ibma_stats::permute::FlipStream> {
        self.validate()?;
        let seed = u32::try_from(self.seed).unwrap_or_default();
        Ok(ibma_stats::permute::FlipStream::new(self.n_iters, n_studies, seed, self.exact_flips))
    }

    /// The plain-words warning when the smallest permutation p, 1/(flips + 1), cannot fall below
    /// 0.05.
    pub fn too_few(&self) -> Option<String> {
        (self.n_iters < 19).then(|| {
            format!(
                "--n-iters {n}: a permutation p-value is at least 1/{m} = {p:.3}, so none can fall below 0.05; use at least 19 (NiMARE's default is 5000)",
                n = self.n_iters,
                m = self.n_iters + 1,
                p = 1.0 / (self.n_iters + 1) as f64
            )
        })
    }
}

/// Rows of sign flips handled at once: long runs are drawn and evaluated chunk by chunk.
pub const FLIP_CHUNK_ROWS: usize = 1 << 16;

impl Flips {
    /// Run `each` on the flips of `n_studies`, chunk by chunk in order, and join the results.
    ///
    /// # Errors
    /// As [`Flips::validate`], and what `each` returns.
    pub fn chunked<T>(
        &self,
        n_studies: usize,
        mut each: impl FnMut(&ibma_stats::permute::FlipMatrix) -> Result<Vec<T>>,
    ) -> Result<Vec<T>> {
        let mut stream = self.stream(n_studies)?;
        let mut out = Vec::with_capacity(stream.n_iters());
        while let Some(chunk) = stream.next_chunk(FLIP_CHUNK_ROWS) {
            out.extend(each(&chunk)?);
        }
        Ok(out)
    }
}

impl Default for Flips {
    fn default() -> Self {
        Flips { n_iters: 5000, seed: 42, exact_flips: false }
    }
}

/// Cluster-forming options shared by GRF and the permutation cluster statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterOptions {
    /// Cluster-defining threshold: a p in (0, 1) converted with `cdt_tail`, or a z > 1.
    pub cdt: f64,
    /// Tail of the cdt conversion (two: the seed's Φ⁻¹(1 − cdt/2)).
    #[serde(with = "named")]
    pub cdt_tail: Tail,
    /// Neighbourhood of a cluster: 6, 18 or 26 voxels.
    #[serde(with = "connectivity")]
    pub connectivity: Connectivity,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { cdt: 0.01, cdt_tail: Tail::Two, connectivity: Connectivity::TwentySix }
    }
}

impl ClusterOptions {
    /// The cluster-forming z threshold u.
    pub fn threshold(&self) -> f64 {
        if self.cdt < 1.0 {
            p_to_z(self.cdt, self.cdt_tail)
        } else {
            self.cdt
        }
    }

    /// `cdt` must give u > 1 (GRF's approximation needs it).
    pub fn validate(&self, estimator: &str) -> Result<()> {
        let c = self.cdt;
        let ok = if c < 1.0 { c > 0.0 && p_to_z(c, self.cdt_tail) > 1.0 } else { c.is_finite() && c > 1.0 };
        if ok {
            Ok(())
        } else {
            Err(crate::Error::param(
                estimator,
                "cdt",
                &c.to_string(),
                "a p in (0, 1) whose z exceeds 1 (e.g. 0.01), or a z > 1",
            ))
        }
    }
}

/// How the FLAME faces (RFX/FFX/MFX_GLM) turn t into z (docs/flame1.md, FSL's t → z).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TToZ {
    /// Tail matching, as NiMARE's transform.
    #[default]
    Exact,
    /// FSL 5.0.9's: its asymptotic form above |t| = 7.5, to reproduce published FSL tables.
    Fsl,
}

impl TToZ {
    /// z of each voxel's `t` at its `dof` under this rule (`exact` keeps the fit's own z).
    pub(crate) fn apply(self, z: Vec<f64>, t: &[f64], dof: &[f64]) -> Vec<f64> {
        match self {
            TToZ::Exact => z,
            // FSL rounds the DOF as flameo does: floor(DOF + 0.5).
            TToZ::Fsl => {
                t.iter().zip(dof).map(|(&t, &d)| ibma_stats::transform::t_to_z_fsl(t, (d + 0.5).floor())).collect()
            }
        }
    }
}

/// An enum of a lower crate written with NiMARE's (or ibma's) text names; read
/// case-insensitively (`method=REML` is `method=reml`).
pub trait Named: Sized + Copy + PartialEq + 'static {
    /// Every value with its name.
    const NAMES: &'static [(Self, &'static str)];

    /// This value's name.
    fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(v, _)| *v == self).map_or("?", |(_, n)| n)
    }

    /// The value named `text` (any case).
    fn parse(text: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(text)).map(|(v, _)| *v)
    }

    /// The names, comma-separated (for messages).
    fn choices() -> String {
        Self::NAMES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
    }
}

impl Named for Method {
    const NAMES: &'static [(Self, &'static str)] = &[(Method::Ml, "ml"), (Method::Reml, "reml")];
}

impl Named for Optimizer {
    const NAMES: &'static [(Self, &'static str)] = &[(Optimizer::Global, "global"), (Optimizer::Fsl, "fsl")];
}

impl Named for TToZ {
    const NAMES: &'static [(Self, &'static str)] = &[(TToZ::Exact, "exact"), (TToZ::Fsl, "fsl")];
}

impl Named for SmallSampleCorrection {
    const NAMES: &'static [(Self, &'static str)] = &[
        (SmallSampleCorrection::Wald, "wald"),
        (SmallSampleCorrection::KnappHartung, "knapp-hartung"),
        (SmallSampleCorrection::KnappHartungConservative, "knapp-hartung-conservative"),
    ];
}

impl Named for WeightScheme {
    const NAMES: &'static [(Self, &'static str)] = &[
        (WeightScheme::Rescale, "rescale"),
        (WeightScheme::Individual, "individual"),
        (WeightScheme::Collapse, "collapse"),
    ];
}

impl Named for Tail {
    const NAMES: &'static [(Self, &'static str)] = &[(Tail::Two, "two"), (Tail::One, "one")];
}

impl Named for Null {
    const NAMES: &'static [(Self, &'static str)] =
        &[(Null::Theoretical, "theoretical"), (Null::Empirical, "empirical")];
}

impl Named for Interpolation {
    const NAMES: &'static [(Self, &'static str)] =
        &[(Interpolation::Linear, "linear"), (Interpolation::Nearest, "nearest")];
}

/// `#[serde(with = "named")]` for a [`Named`] enum.
pub mod named {
    use super::Named;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write the value's name.
    pub fn serialize<T: Named, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.name())
    }

    /// Read a name (any case); an unknown one lists the valid names.
    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        T::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid value {text:?}; valid values: {}", T::choices())))
    }
}

/// `two_sided: true|false` as the [`Tail`] of the test.
pub mod two_sided {
    use ibma_stats::Tail;
    use serde::{Deserialize, Deserializer, Serializer};

    /// true for a two-sided test.
    pub fn serialize<S: Serializer>(tail: &Tail, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*tail == Tail::Two)
    }

    /// true → two-sided, false → upper tail.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tail, D::Error> {
        Ok(if bool::deserialize(d)? { Tail::Two } else { Tail::One })
    }
}

/// `resample: none|linear|nearest`.
mod resample {
    use super::Named;
    use ibma_io::Interpolation;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Interpolation>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.map_or("none", Named::name))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Interpolation>, D::Error> {
        let text = String::deserialize(d)?;
        if text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        Interpolation::parse(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid value {text:?}; valid values: none, linear, nearest"))
        })
    }
}

/// `connectivity: 6|18|26`.
mod connectivity {
    use ibma_stats::cluster::Connectivity;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Connectivity, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(c.neighbours() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Connectivity, D::Error> {
        let n = u64::deserialize(d)?;
        usize::try_from(n)
            .ok()
            .and_then(Connectivity::from_neighbours)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid value {n}; valid values: 6, 18, 26")))
    }
}

impl Serialize for Null {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        named::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Null {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Null, D::Error> {
        named::deserialize(d)
    }
}
