"""Per-centre stores of the synthetic network: one DuckDB file per centre, as in a real network.

Each centre's store holds only that centre's rows (ingested from its own files), so a node
started on it cannot read another centre's patients.
"""

from __future__ import annotations

from pathlib import Path

from icipredict.cohort.loaders import load_source
from icipredict.cohort.store import CohortStore, source_content_hash
from icipredict.synthetic.network import generate_network


def centre_stores(out: str | Path, *, n_patients: int = 600, seed: int = 7, key: bytes,
                  network_dir: str | Path | None = None) -> dict[str, Path]:
    """Generate the network (unless ``network_dir`` already holds it) and one store per centre.

    Parameters
    ----------
    out
        Folder for ``<centre>.duckdb``.
    n_patients, seed
        Size and seed of the synthetic network.
    key
        Pseudonym key of the stores.
    network_dir
        Where the network's files are (generated there when absent; default ``out/network``).

    Returns
    -------
    dict
        Centre -> its store path.
    """
    out = Path(out)
    net_dir = Path(network_dir) if network_dir is not None else out / "network"
    network = generate_network(net_dir, n_patients=n_patients, seed=seed, workers=2)
    stores = {}
    for centre, source in network.sources.items():
        path = out / f"{centre}.duckdb"
        store = CohortStore(path)
        store.ingest(load_source(source, centre=centre), centre=centre,
                     content_hash=source_content_hash(source), source=str(source), key=key)
        stores[centre] = path
    return stores
