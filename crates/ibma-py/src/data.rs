//! What a fit reads when it is not a dataset on disk: an analysis mask and the studies' maps
//! as arrays over its voxels ([`ibma::Inputs`]).

use crate::errors::IntoPy;
use ibma::io::{Covariate, Grid, MapMeta, MapType, Mask, Volume};
use ibma::{Inputs, StudyInputs};
use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArray4,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// An analysis mask: its grid and in-mask voxels (C order), and the file it was read from.
#[pyclass(module = "ibma._ibma", frozen)]
pub struct NativeMask {
    pub(crate) mask: Mask,
    /// Absolute path of the mask file, if it came from one.
    pub(crate) path: Option<PathBuf>,
}

#[pymethods]
impl NativeMask {
    /// Read a mask image: its non-zero, non-NaN voxels.
    #[staticmethod]
    fn read(path: PathBuf) -> PyResult<Self> {
        let mask = Mask::read(&path).py()?;
        if mask.is_empty() {
            return Err(PyValueError::new_err(format!("{}: the analysis mask has no voxels", path.display())));
        }
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        Ok(NativeMask { mask, path: Some(path) })
    }

    /// A mask from a 3-D array (non-zero, non-NaN voxels) and its voxel-to-mm affine.
    #[staticmethod]
    fn from_array(data: PyReadonlyArray3<'_, f64>, affine: PyReadonlyArray2<'_, f64>) -> PyResult<Self> {
        let shape = data.shape();
        let dims = [shape[0], shape[1], shape[2]];
        let grid = Grid::from_affine(dims, affine_of(&affine)?);
        let volume = Volume { grid, data: data.as_array().iter().copied().collect() };
        let mask = Mask::from_volume(&volume);
        if mask.is_empty() {
            return Err(PyValueError::new_err("mask: no voxel is non-zero, so the analysis mask has no voxels"));
        }
        Ok(NativeMask { mask, path: None })
    }

    /// Number of in-mask voxels.
    #[getter]
    fn n_voxels(&self) -> usize {
        self.mask.len()
    }

    /// Grid shape (nx, ny, nz).
    #[getter]
    fn dims(&self) -> (usize, usize, usize) {
        let [x, y, z] = self.mask.grid.dims;
        (x, y, z)
    }

    /// Flat C-order indices of the in-mask voxels.
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        self.mask.indices.iter().map(|&i| i as i64).collect::<Vec<_>>().into_pyarray(py)
    }

    /// The 348 bytes of the NIfTI-1 header that maps on this grid carry (the mask file's
    /// orientation and units), so that images built in Python match the files ibma writes.
    fn header(&self) -> PyResult<Vec<u8>> {
        let repr = serde_json::to_value(&self.mask.grid).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let hex = repr["header"].as_str().unwrap_or_default().as_bytes();
        Ok(hex
            .chunks(2)
            .filter_map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
            .collect())
    }

    /// Write `values` (one per mask voxel) as a float32 map at `path` on the mask grid, as
    /// ibma writes every map (NaN kept inside the mask, 0 outside).
    fn write_map(
        &self,
        py: Python<'_>,
        path: PathBuf,
        values: PyReadonlyArray1<'_, f32>,
        descrip: &str,
    ) -> PyResult<()> {
        let values: Vec<f64> = values.as_array().iter().map(|&x| f64::from(x)).collect();
        if values.len() != self.mask.len() {
            return Err(PyValueError::new_err(format!(
                "{}: {} values for {} mask voxels",
                path.display(),
                values.len(),
                self.mask.len()
            )));
        }
        let meta = MapMeta { intent_code: 0, intent_p1: 0.0, descrip: descrip.to_string() };
        py.detach(|| ibma::io::write_map(&path, &self.mask.grid, &self.mask.unmask(&values), &meta)).py()
    }
}

impl NativeMask {
    /// A mask for a result (no file).
    pub(crate) fn of(mask: Mask) -> NativeMask {
        NativeMask { mask, path: None }
    }
}

/// A 4 × 4 affine from an array.
fn affine_of(affine: &PyReadonlyArray2<'_, f64>) -> PyResult<[[f64; 4]; 4]> {
    let a = affine.as_array();
    if a.shape() != [4, 4] || a.iter().any(|x| !x.is_finite()) {
        return Err(PyValueError::new_err(format!("affine: expected a finite 4 x 4 array, got shape {:?}", a.shape())));
    }
    Ok(std::array::from_fn(|r| std::array::from_fn(|c| a[[r, c]])))
}

/// The in-mask values of 4-D data (x, y, z, study) on the mask grid, study by study: a
/// (studies × mask voxels) array. `affine`, if given, must be the mask's (within the grid
/// tolerance every reader uses); `what` names the data in messages.
#[pyfunction]
#[pyo3(signature = (mask, data, affine, what))]
pub fn masked_volumes<'py>(
    py: Python<'py>,
    mask: &NativeMask,
    data: PyReadonlyArray4<'py, f32>,
    affine: Option<PyReadonlyArray2<'py, f64>>,
    what: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let view = data.as_array();
    let shape = view.shape();
    let dims = [shape[0], shape[1], shape[2]];
    let grid = &mask.mask.grid;
    let same = match &affine {
        Some(a) => Grid::from_affine(dims, affine_of(a)?).same_as(grid),
        None => dims == grid.dims,
    };
    if !same {
        let found = match &affine {
            Some(a) => Grid::from_affine(dims, affine_of(a)?).describe(),
            None => format!("{}x{}x{}", dims[0], dims[1], dims[2]),
        };
        return Err(PyValueError::new_err(format!(
            "{what}: grid {found} differs from the mask grid {}",
            grid.describe()
        )));
    }
    let (k, v) = (shape[3], mask.mask.len());
    let [_, ny, nz] = grid.dims;
    let mut out = Array2::<f32>::zeros((k, v));
    for (col, &flat) in mask.mask.indices.iter().enumerate() {
        let (i, j, l) = (flat / (ny * nz), (flat / nz) % ny, flat % nz);
        for s in 0..k {
            out[[s, col]] = view[[i, j, l, s]];
        }
    }
    Ok(out.into_pyarray(py))
}

/// A covariate value of one study: a number or a label.
#[derive(FromPyObject)]
pub enum CovariateArg {
    /// A number (e.g. mean age).
    Number(f64),
    /// A label (e.g. a site).
    Label(String),
}

/// Studies and their maps over a mask, in memory ([`ibma::Inputs`]).
#[pyclass(module = "ibma._ibma", frozen)]
pub struct NativeInputs {
    pub(crate) inputs: Arc<Inputs>,
}

#[pymethods]
impl NativeInputs {
    /// Images `ids` with `maps` (map type → an images × mask-voxels float32 array), sample
    /// sizes (one per image, None where unknown; or empty), covariates (name → one value per
    /// image, None where missing) and the study of each image (None: a study of its own; or
    /// empty).
    #[new]
    #[pyo3(signature = (mask, ids, maps, sample_sizes, covariates, studies))]
    fn new(
        mask: &NativeMask,
        ids: Vec<String>,
        maps: Vec<(String, PyReadonlyArray2<'_, f32>)>,
        sample_sizes: Vec<Option<f64>>,
        covariates: Vec<(String, Vec<Option<CovariateArg>>)>,
        studies: Vec<Option<String>>,
    ) -> PyResult<Self> {
        let (k, v) = (ids.len(), mask.mask.len());
        let bad = |msg: String| Err(PyValueError::new_err(msg));
        if !sample_sizes.is_empty() && sample_sizes.len() != k {
            return bad(format!("sample_sizes: {} values for {k} studies", sample_sizes.len()));
        }
        if !studies.is_empty() && studies.len() != k {
            return bad(format!("study_ids: {} values for {k} images", studies.len()));
        }
        let mut typed = Vec::with_capacity(maps.len());
        for (name, values) in &maps {
            let Some(ty) = MapType::parse(name) else {
                return bad(format!("{name}: unknown map type; known types are con, se, varcope, t, z"));
            };
            let shape = values.shape();
            if shape != [k, v] {
                return bad(format!(
                    "{name}: shape ({}, {}) but {k} studies x {v} mask voxels were expected (one row per study, one column per in-mask voxel, or a 4-D image on the mask grid)",
                    shape[0], shape[1]
                ));
            }
            typed.push((ty, values.as_array()));
        }
        for (name, values) in &covariates {
            if values.len() != k {
                return bad(format!("covariates[{name:?}]: {} values for {k} studies", values.len()));
            }
        }
        let mut inputs = Inputs::new(mask.mask.clone());
        for (s, id) in ids.into_iter().enumerate() {
            let mut study = StudyInputs::new(id);
            study.sample_size = sample_sizes.get(s).copied().flatten();
            study.study = studies.get(s).cloned().flatten();
            for (name, values) in &covariates {
                let value = match &values[s] {
                    Some(CovariateArg::Number(x)) => Covariate::Number(*x),
                    Some(CovariateArg::Label(l)) => Covariate::Label(l.clone()),
                    None => continue,
                };
                study.covariates.insert(name.clone(), value);
            }
            study.maps = typed.iter().map(|(ty, values)| (*ty, values.row(s).to_vec())).collect::<BTreeMap<_, _>>();
            inputs.push(study).py()?;
        }
        Ok(NativeInputs { inputs: Arc::new(inputs) })
    }

    /// Number of studies.
    #[getter]
    fn n_studies(&self) -> usize {
        self.inputs.studies().len()
    }

    /// Study ids, in order.
    #[getter]
    fn ids(&self) -> Vec<String> {
        self.inputs.studies().iter().map(|s| s.id.clone()).collect()
    }
}
