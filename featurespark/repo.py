"""Loading a feature repo: a folder of Python files that define entities, feature views and aggregation views."""
from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from typing import Union

from featurespark.definitions import AggregationView, Entity, FeatureView
from featurespark.errors import DefinitionError

logger = logging.getLogger(__name__)

__all__ = ["load_repo"]

_Definition = Union[Entity, FeatureView, AggregationView]


def load_repo(path: Union[str, Path]) -> list[_Definition]:
    """Import every ``*.py`` file of a feature repo and collect its definitions.

    Module-level :class:`Entity`, :class:`FeatureView` and :class:`AggregationView` objects are collected; files whose
    name starts with ``_`` or ``test_`` are skipped. Entities used by collected views are
    included even when they are not module-level names.

    Parameters
    ----------
    path : str or Path
        The feature repo folder.

    Returns
    -------
    list
        Entities first, then feature views, then aggregation views, each sorted by name.

    Raises
    ------
    DefinitionError
        If the folder does not exist, a file fails to import, or it defines nothing.

    Examples
    --------
    >>> _ = (tmp_path / "defs.py").write_text(
    ...     "from featurespark import Entity\\ndriver = Entity('driver', join_keys={'driver_id': 'int64'})\\n")
    >>> [type(o).__name__ for o in load_repo(tmp_path)]
    ['Entity']
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DefinitionError(f"Feature repo {folder} is not a folder. Pass --repo with the folder of your "
                              "definitions, or create one with `featurespark init`.")
    found: dict[int, _Definition] = {}
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith(("_", "test_")))
    for file in files:
        module_name = f"_featurespark_repo_{abs(hash(str(file.resolve())))}_{file.stem}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:  # pragma: no cover - only for non-files
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - any error in user code is reported with its file
            raise DefinitionError(f"{file}: failed to load definitions: {type(exc).__name__}: {exc}") from exc
        for value in vars(module).values():
            if isinstance(value, (Entity, FeatureView, AggregationView)):
                found[id(value)] = value
    for view in [v for v in found.values() if isinstance(v, (FeatureView, AggregationView))]:
        for entity in view.entities:
            found.setdefault(id(entity), entity)
    if not found:
        raise DefinitionError(f"Feature repo {folder} defines no Entity, FeatureView or AggregationView in "
                              f"{len(files)} file(s).")
    entities = sorted((o for o in found.values() if isinstance(o, Entity)), key=lambda e: e.name)
    views = sorted((o for o in found.values() if isinstance(o, FeatureView)), key=lambda v: v.name)
    aggregations = sorted((o for o in found.values() if isinstance(o, AggregationView)), key=lambda v: v.name)
    logger.info("Loaded %d entities, %d feature views and %d aggregation views from %s", len(entities), len(views),
                len(aggregations), folder)
    return [*entities, *views, *aggregations]
