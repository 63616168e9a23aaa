"""Type stubs of ibma.estimators, generated from the classes' signatures (test_api checks):
python -c "import ibma.estimators as e; print(e.signature_stub(), end='')" > estimators.pyi
"""

import os
from typing import Any, Dict, Optional, Sequence, Type, TypeVar, Union

from .inputs import Inputs, MaskLike
from .results import MetaResult

E = TypeVar("E", bound="Estimator")
DatasetLike = Union[str, "os.PathLike[str]", Inputs, Any]

class Estimator:
    def get_params(self, deep: bool = True) -> Dict[str, Any]: ...
    def set_params(self: E, **params: Any) -> E: ...
    def copy(self: E) -> E: ...
    def save(self, filename: Union[str, "os.PathLike[str]"], compress: bool = True) -> None: ...
    @classmethod
    def load(cls: Type[E], filename: Union[str, "os.PathLike[str]"], compressed: bool = True) -> E: ...
    def fit(self, dataset: DatasetLike, drop_invalid: bool = True) -> MetaResult: ...
    def __getattr__(self, name: str) -> Any: ...

class _Regression(Estimator): ...

class Fishers(Estimator):
    def __init__(
        self,
        two_sided: bool = True,
        use_sample_size: bool = False,
        *,
        legacy_undirected: bool = False,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class Stouffers(Estimator):
    def __init__(
        self,
        use_sample_size: bool = False,
        two_sided: bool = True,
        *,
        inference: str = 'ffx',
        null: str = 'theoretical',
        n_iters: int = 5000,
        seed: int = 42,
        exact_flips: bool = False,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class WeightedLeastSquares(_Regression):
    def __init__(
        self,
        tau2: float = 0.0,
        *,
        small_sample_correction: Optional[str] = None,
        weight_scheme: str = 'rescale',
        rho: float = 0.8,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class DerSimonianLaird(_Regression):
    def __init__(
        self,
        *,
        small_sample_correction: Optional[str] = None,
        weight_scheme: str = 'rescale',
        rho: float = 0.8,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class Hedges(_Regression):
    def __init__(
        self,
        *,
        small_sample_correction: Optional[str] = None,
        weight_scheme: str = 'rescale',
        rho: float = 0.8,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class SampleSizeBasedLikelihood(_Regression):
    def __init__(
        self,
        method: str = 'ml',
        *,
        small_sample_correction: Optional[str] = None,
        weight_scheme: str = 'rescale',
        rho: float = 0.8,
        nimare_strict: bool = False,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class VarianceBasedLikelihood(_Regression):
    def __init__(
        self,
        method: str = 'ml',
        *,
        small_sample_correction: Optional[str] = None,
        weight_scheme: str = 'rescale',
        rho: float = 0.8,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class PermutedOLS(Estimator):
    def __init__(
        self,
        two_sided: bool = True,
        use_sample_size: bool = False,
        n_jobs: int = 1,
        random_state: Optional[int] = 42,
        *,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class FixedEffectsHedges(_Regression):
    def __init__(
        self,
        tau2: float = 0.0,
        *,
        small_sample_correction: Optional[str] = None,
        weight_scheme: str = 'rescale',
        rho: float = 0.8,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class FFX_GLM(Estimator):
    def __init__(
        self,
        cdt: float = 0.01,
        q: float = 0.05,
        two_sided: bool = True,
        *,
        fsl_compat: bool = False,
        write_weights: bool = False,
        t_to_z: str = 'exact',
        cdt_tail: str = 'two',
        connectivity: int = 26,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class MFX_GLM(Estimator):
    def __init__(
        self,
        cdt: float = 0.01,
        q: float = 0.05,
        two_sided: bool = True,
        *,
        fsl_compat: bool = False,
        write_weights: bool = False,
        t_to_z: str = 'exact',
        optimizer: str = 'global',
        groups: Optional[str] = None,
        cdt_tail: str = 'two',
        connectivity: int = 26,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class RFX_GLM(Estimator):
    def __init__(
        self,
        null: str = 'theoretical',
        n_iters: int = 5000,
        two_sided: bool = True,
        *,
        standardize: bool = False,
        t_to_z: str = 'exact',
        seed: int = 42,
        exact_flips: bool = False,
        moderators: Union[None, str, Sequence[str]] = None,
        contrast: Union[None, str, Sequence[float], Sequence[Sequence[float]]] = None,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...

class WeightedStouffers(Estimator):
    def __init__(
        self,
        two_sided: bool = True,
        *,
        aggressive_mask: bool = False,
        derive: str = 'auto',
        resample: str = 'none',
        groupby: Union[None, bool, str, Sequence[Any]] = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None: ...
