"""A NiMARE ``Dataset`` read duck-typed (nimare is never imported): its ``images`` and
``metadata`` tables become NiMARE's dataset JSON, which the library reads as it reads the file
(one reader, one set of rules and messages), and its masker's mask becomes the analysis mask."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List

#: NiMARE's image columns that are IBMA map types.
IMAGE_COLUMNS = ("beta", "se", "t", "varcope", "z")


def is_nimare_dataset(obj: Any) -> bool:
    """True for an object shaped like NiMARE's ``Dataset``."""
    return all(hasattr(obj, name) for name in ("images", "metadata", "masker"))


#: The metadata table's identifying columns (not covariates).
_IDS = ("id", "study_id", "contrast_id")


def _json_value(value: Any) -> Any:
    """A metadata cell as a JSON value: a number, text, a truth value or a list of them; None
    for a missing value (NaN) or anything else."""
    if hasattr(value, "tolist"):
        value = value.tolist()  # NumPy scalars and arrays
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_json_value(v) for v in value]
        return items if all(v is not None and not isinstance(v, list) for v in items) else None
    return None


def _records(table: Any) -> List[Dict[str, Any]]:
    """Rows of a pandas DataFrame (or anything with ``to_dict("records")``)."""
    return list(table.to_dict("records"))


def _sample_sizes(value: Any) -> List[float]:
    """NiMARE's ``sample_sizes`` cell: a list of group sizes, a number, or missing."""
    if value is None:
        return []
    if getattr(value, "ndim", None) == 0:
        value = value.item()  # a NumPy scalar
    if isinstance(value, (int, float)):
        return [] if math.isnan(value) else [float(value)]
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        values = value.tolist() if hasattr(value, "tolist") else list(value)
        values = values if isinstance(values, list) else [values]
        return [float(v) for v in values]
    return []


def dataset_json(dataset: Any) -> str:
    """NiMARE's dataset JSON for ``dataset`` (image paths as its tables hold them, absolute
    after NiMARE's path handling; the images of a study as its contrasts)."""
    metadata = {row.get("id"): row for row in _records(dataset.metadata)}
    studies: Dict[str, Dict[str, Any]] = {}
    for row in _records(dataset.images):
        images = {k: row[k] for k in IMAGE_COLUMNS if isinstance(row.get(k), str)}
        fields = metadata.get(row.get("id"), {})
        # Every metadata field JSON can hold: the library reads them as covariates
        # (``moderators=``, ``groupby="<field>"``).
        meta = {k: _json_value(v) for k, v in fields.items() if k not in _IDS and k != "sample_sizes"}
        meta = {k: v for k, v in meta.items() if v is not None}
        sizes = _sample_sizes(fields.get("sample_sizes"))
        if sizes:
            meta["sample_sizes"] = sizes
        contrast = {"images": images, "metadata": meta}
        study = studies.setdefault(str(row["study_id"]), {"contrasts": {}})
        study["contrasts"][str(row["contrast_id"])] = contrast
    return json.dumps(studies)


def nimare_mask(dataset: Any) -> Any:
    """The analysis mask of a NiMARE dataset: its masker's mask image."""
    masker = dataset.masker
    mask = getattr(masker, "mask_img_", None)
    if mask is None:
        mask = getattr(masker, "mask_img", None)
    if mask is None:
        raise ValueError("NiMARE Dataset: its masker has no mask image; give mask= to the estimator")
    return mask
