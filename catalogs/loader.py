"""Load the built-in catalogs (shipped as package data) and merge users' TOML overrides.

GPUs: a user file has the same layout as ``catalogs/data/gpus.toml``, one ``[gpu.<id>]`` table per
GPU. Model presets: the layout of ``catalogs/data/models.toml``, one ``[model.<id>]`` table per
model. An id that exists is overridden field by field; a new id must give every required field.
Errors name the file and the key (``my.toml: gpu.h100-sxm.memory_bytes: ...``).
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

from pydantic import ValidationError

from catalogs.compiled import builtin_data
from catalogs.errors import CatalogError, UnknownGPUError, UnknownModelError
from catalogs.safe_read import check_nesting, read_text_capped
from catalogs.schema import GPUSpec, ModelPreset, RegionsCatalog, ReliabilityCatalog, RentalTermsCatalog

BUILTIN_FILE = "gpus.toml"
BUILTIN_MODELS_FILE = "models.toml"
RELIABILITY_FILE = "reliability.toml"
REGIONS_FILE = "regions.toml"
RENTAL_TERMS_FILE = "rental_terms.toml"
OPTIONAL_GPU_FILES: dict[str, str] = {}      # the H800 moved into gpus.toml (issue #16)
"""GPU tables shipped as data but not merged into the built-in catalog (opt in with --catalog)."""


@dataclass(frozen=True)
class Catalog:
    """GPU specs by canonical id. Lookups are case-insensitive."""

    gpus: Mapping[str, GPUSpec]

    def get(self, gpu_id: str, field: str = "gpu") -> GPUSpec:
        key = str(gpu_id).strip().lower()
        if key not in self.gpus:
            known = ", ".join(sorted(self.gpus))
            close = [g for g in sorted(self.gpus) if key and g.startswith(key)]
            close = close or difflib.get_close_matches(key, list(self.gpus), n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close[:2])}? " if close else ""
            raise UnknownGPUError(f"{field}: unknown GPU {gpu_id!r}; {hint}known: {known}", field)
        return self.gpus[key]

    def ids(self) -> list[str]:
        return list(self.gpus)

    def __iter__(self):
        return iter(self.gpus.values())

    def __len__(self) -> int:
        return len(self.gpus)

    def with_overrides(self, raw: Mapping, origin: str) -> "Catalog":
        """A new catalog with the ``gpu`` tables of ``raw`` merged in (validated)."""
        return Catalog(_merge(dict(self.gpus), raw, origin))


def _format_validation(error: ValidationError, origin: str, gpu_id: str) -> str:
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    where = f"gpu.{gpu_id}.{loc}" if loc else f"gpu.{gpu_id}"
    return f"{origin}: {where}: {first['msg']}"


def _merge(gpus: dict[str, GPUSpec], raw: Mapping, origin: str) -> dict[str, GPUSpec]:
    unknown_top = set(raw) - {"gpu"}
    if unknown_top:
        raise CatalogError(f"{origin}: unknown top-level key {sorted(unknown_top)[0]!r}; allowed: gpu", "catalog")
    tables = raw.get("gpu", {})
    if not isinstance(tables, Mapping):
        raise CatalogError(f"{origin}: gpu must be a table of [gpu.<id>] entries", "catalog")
    for raw_id, fields in tables.items():
        gpu_id = str(raw_id).lower()
        if not isinstance(fields, Mapping):
            raise CatalogError(f"{origin}: gpu.{raw_id} must be a table", "catalog")
        base = gpus[gpu_id].model_dump() if gpu_id in gpus else {}
        merged = {**base, **fields, "id": gpu_id}
        for nested in ("peak_flops", "provider_prices_usd_per_gpu_hour", "sources"):
            if nested in base and isinstance(fields.get(nested), Mapping):
                merged[nested] = {**base[nested], **fields[nested]}
        try:
            gpus[gpu_id] = GPUSpec.model_validate(merged)
        except ValidationError as error:
            raise CatalogError(_format_validation(error, origin, gpu_id), "catalog") from None
    return gpus


# Bounds on a user's catalog file, checked before parsing (#18): the built-in gpus.toml is ~30 kB.
MAX_CATALOG_BYTES = 1 << 20
MAX_CATALOG_DEPTH = 32


def _read_toml(path: Path) -> dict:
    """A user's TOML file: a regular UTF-8 file of at most 1 MiB, bounded nesting, keys and digits."""
    if not path.exists() and not path.is_symlink():
        raise CatalogError(f"catalog: file not found: {path}", "catalog")
    text = read_text_capped(path, max_bytes=MAX_CATALOG_BYTES, what="catalog")
    check_nesting(text, max_depth=MAX_CATALOG_DEPTH, syntax="toml", what=f"catalog: {path}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: not valid TOML: {error}", "catalog") from None
    except (RecursionError, ValueError) as error:  # belt and braces: check_nesting should prevent these
        raise CatalogError(f"{path}: cannot parse: {type(error).__name__}", "catalog") from None


@lru_cache(maxsize=1)
def builtin_catalog() -> Catalog:
    """The catalog shipped inside the package (works for non-editable installs)."""
    return Catalog(_merge({}, builtin_data(BUILTIN_FILE), f"catalogs/data/{BUILTIN_FILE}"))


def load_catalog(extra_files: Iterable[str | Path] = ()) -> Catalog:
    """The built-in catalog with each of ``extra_files`` merged on top, in order."""
    catalog = builtin_catalog()
    for path in extra_files:
        catalog = catalog.with_overrides(_read_toml(Path(path)), str(path))
    return catalog


# ============================================================================ model presets

@dataclass(frozen=True)
class ModelCatalog:
    """Model presets by canonical id. Lookups are case-insensitive."""

    models: Mapping[str, ModelPreset]

    def get(self, name: str, field: str = "model") -> ModelPreset:
        """The preset ``name``; an unknown id names the closest known ids (difflib)."""
        key = str(name).strip().lower()
        if key in self.models:
            return self.models[key]
        close = difflib.get_close_matches(key, list(self.models), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        known = ", ".join(sorted(self.models))
        raise UnknownModelError(f"{field}: unknown model {name!r}; {hint}known: {known}", field)

    def ids(self) -> list[str]:
        return list(self.models)

    def __iter__(self):
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def with_overrides(self, raw: Mapping, origin: str) -> "ModelCatalog":
        """A new catalog with the ``model`` tables of ``raw`` merged in (validated)."""
        return ModelCatalog(_merge_models(dict(self.models), raw, origin))


def _format_model_error(error: ValidationError, origin: str, model_id: str) -> str:
    """One line: ``origin: model.<id>.<field>: message`` (model-level checks name their field)."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    where = f"model.{model_id}.{loc}" if loc else f"model.{model_id}"
    return f"{origin}: {where}: {message}".replace("\n", " ")


def _merge_models(models: dict[str, ModelPreset], raw: Mapping, origin: str) -> dict[str, ModelPreset]:
    unknown_top = set(raw) - {"model"}
    if unknown_top:
        raise CatalogError(f"{origin}: unknown top-level key {sorted(unknown_top)[0]!r}; allowed: model", "catalog")
    tables = raw.get("model", {})
    if not isinstance(tables, Mapping):
        raise CatalogError(f"{origin}: model must be a table of [model.<id>] entries", "catalog")
    for raw_id, fields in tables.items():
        model_id = str(raw_id).lower()
        if not isinstance(fields, Mapping):
            raise CatalogError(f"{origin}: model.{raw_id} must be a table", "catalog")
        base = models[model_id].model_dump() if model_id in models else {}
        merged = {**base, **fields, "id": model_id}
        if "sources" in base and isinstance(fields.get("sources"), Mapping):
            merged["sources"] = {**base["sources"], **fields["sources"]}
        try:
            models[model_id] = ModelPreset.model_validate(merged)
        except ValidationError as error:
            raise CatalogError(_format_model_error(error, origin, model_id), "catalog") from None
    return models


@lru_cache(maxsize=1)
def builtin_models() -> ModelCatalog:
    """The model presets shipped inside the package."""
    return ModelCatalog(_merge_models({}, builtin_data(BUILTIN_MODELS_FILE), f"catalogs/data/{BUILTIN_MODELS_FILE}"))


def load_models(extra_files: Iterable[str | Path] = ()) -> ModelCatalog:
    """The built-in model presets with each of ``extra_files`` merged on top, in order."""
    catalog = builtin_models()
    for path in extra_files:
        catalog = catalog.with_overrides(_read_toml(Path(path)), str(path))
    return catalog


def get_model(name: str, extra_files: Iterable[str | Path] = ()) -> ModelPreset:
    """One preset by id (case-insensitive); unknown ids raise UnknownModelError with suggestions."""
    return load_models(extra_files).get(name)


# ---------------------------------------------------------------------------------------------
# Reliability, regions (carbon) and rental terms: one TOML file each, one pydantic model each.

def _validate_file(model, raw: Mapping, origin: str):
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "<top level>"
        message = " ".join(str(first["msg"]).split())
        raise CatalogError(f"{origin}: {loc}: {message}", "catalog") from None


def _load_data_file(model, name: str, path: str | Path | None):
    if path is None:
        origin = f"catalogs/data/{name}"
        try:
            raw = builtin_data(name)
        except tomllib.TOMLDecodeError as error:
            raise CatalogError(f"{origin}: not valid TOML: {error}", "catalog") from None
    else:
        origin, raw = str(path), _read_toml(Path(path))
    return _validate_file(model, raw, origin)


@lru_cache(maxsize=1)
def _builtin_reliability() -> ReliabilityCatalog:
    return _load_data_file(ReliabilityCatalog, RELIABILITY_FILE, None)


@lru_cache(maxsize=1)
def _builtin_regions() -> RegionsCatalog:
    return _load_data_file(RegionsCatalog, REGIONS_FILE, None)


@lru_cache(maxsize=1)
def _builtin_rental_terms() -> RentalTermsCatalog:
    return _load_data_file(RentalTermsCatalog, RENTAL_TERMS_FILE, None)


def load_reliability(path: str | Path | None = None) -> ReliabilityCatalog:
    """Failure rates, checkpoint and restart defaults (``catalogs/data/reliability.toml``, or a
    user file with the same layout). Errors are one line naming the file and the field."""
    return _builtin_reliability() if path is None else _load_data_file(ReliabilityCatalog, RELIABILITY_FILE, path)


def load_regions(path: str | Path | None = None) -> RegionsCatalog:
    """Grid carbon intensity by region and published training footprints
    (``catalogs/data/regions.toml``, or a user file with the same layout)."""
    return _builtin_regions() if path is None else _load_data_file(RegionsCatalog, REGIONS_FILE, path)


def load_rental_terms(path: str | Path | None = None) -> RentalTermsCatalog:
    """Billing granularity, minimum rental terms and spot offers by GPU and provider
    (``catalogs/data/rental_terms.toml``, or a user file with the same layout)."""
    return _builtin_rental_terms() if path is None else _load_data_file(RentalTermsCatalog, RENTAL_TERMS_FILE, path)


def optional_gpu_file(gpu_id: str) -> Path:
    """Path of a GPU table shipped as data but kept out of the built-in catalog (e.g. ``h800``);
    pass it to :func:`load_catalog` or ``--catalog`` to use it."""
    key = str(gpu_id).strip().lower()
    if key not in OPTIONAL_GPU_FILES:
        known = ", ".join(sorted(OPTIONAL_GPU_FILES))
        raise UnknownGPUError(f"gpu: no optional catalog file for {gpu_id!r}; known: {known}", "gpu")
    return Path(str(resources.files("catalogs").joinpath("data", OPTIONAL_GPU_FILES[key])))
