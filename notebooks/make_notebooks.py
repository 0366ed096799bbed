"""Write the example notebooks (without outputs) from the cells below.

Run ``python notebooks/make_notebooks.py`` after changing a cell; the test
suite executes the notebooks it writes.
"""

from __future__ import annotations

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = pathlib.Path(__file__).parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01-chaining-ops.ipynb": [
        ("md", "# Chaining ops interactively\n\nOpen a series (here the built-in synthetic "
               "detector), compose ops onto it and look at frames. Nothing is read until a "
               "frame is asked for."),
        ("code", "import numpy as np\nimport matplotlib.pyplot as plt\n\nimport pipeline\n\n"
                 "raw = pipeline.synthetic(32, (128, 128))\nraw"),
        ("md", "Each op is checked when it joins the chain; the processed series knows its "
               "shape and dtype without computing a frame."),
        ("code", "dark = raw.metadata[\"dark\"]\n"
                 "ps = raw.process([(\"dark\", dark), (\"flip\", \"v\")])\n"
                 "cropped = ps.process([(\"rectangle\", ((32, 96), (32, 96)))])\n"
                 "cropped"),
        ("code", "fig, axes = plt.subplots(1, 3, figsize=(10, 3.5))\n"
                 "for ax, (title, frame) in zip(axes, [(\"raw\", raw[16]), "
                 "(\"dark, flip\", ps[16]), (\"cropped\", cropped[16])]):\n"
                 "    ax.imshow(frame, cmap=\"magma\", vmax=np.percentile(frame, 99.9))\n"
                 "    ax.set_title(title)\nplt.show()"),
        ("md", "A frame is computed in numpy with no scheduler; all frames go through one dask "
               "graph. Both give the same pixels."),
        ("code", "lazy = cropped.to_dask()\nprint(lazy)\n"
                 "assert np.array_equal(lazy[16].compute(), cropped[16])\n"
                 "cropped.to_dask().max(axis=0).compute().max()"),
    ],
    "02-persist-and-reopen.ipynb": [
        ("md", "# Persisting a processed series and reopening it\n\nA write runs the whole "
               "graph in parallel into a Zarr store that records where its frames came from."),
        ("code", "import pathlib, tempfile\nimport numpy as np\nimport pipeline\n\n"
                 "workdir = pathlib.Path(tempfile.mkdtemp())\n"
                 "raw = pipeline.synthetic(24, (96, 96))\n"
                 "ps = raw.process([(\"dark\", raw.metadata[\"dark\"]), (\"flip\", \"h\")], "
                 "frame_list=range(0, 24, 2))\n"
                 "stored = pipeline.write(ps, workdir / \"processed.zarr\", codec=\"zstd\")\n"
                 "stored"),
        ("code", "reopened = pipeline.open(workdir / \"processed.zarr\")\n"
                 "print(len(reopened), reopened.shape, reopened.dtype)\n"
                 "assert all(np.array_equal(reopened[j], ps[j]) for j in range(len(ps)))\n"
                 "reopened.metadata[\"omega\"][:3]"),
        ("md", "The store records its provenance: the source and the op chain, the same "
               "schema `lazyseries run` reads from a pipeline file."),
        ("code", "prov = reopened.provenance\n"
                 "prov[\"source\"], [op[\"name\"] for op in prov[\"ops\"]], prov[\"frame_list\"][:4]"),
        ("md", "The store opens in xarray too, without this package; `to_xarray()` gives the "
               "same with omega as a coordinate."),
        ("code", "import xarray as xr\n"
                 "ds = xr.open_zarr(workdir / \"processed.zarr\", consolidated=False)\n"
                 "print(ds[\"0\"].dims)\nreopened.to_xarray()"),
    ],
    "03-dark-from-data.ipynb": [
        ("md", "# A dark frame computed from the data\n\nThe pixel-wise median over frames "
               "removes the spots that come and go, leaving the detector's dark level."),
        ("code", "import numpy as np\nimport matplotlib.pyplot as plt\nimport pipeline\n"
                 "from pipeline import stats\n\n"
                 "raw = pipeline.synthetic(40, (96, 96))\n"
                 "dark = stats.median(raw, nframes=40)\ndark.dtype, dark.shape"),
        ("code", "true_dark = raw.metadata[\"dark\"].astype(np.float32)\n"
                 "print(\"median - true dark: mean %.2f, std %.2f\" % "
                 "((dark - true_dark).mean(), (dark - true_dark).std()))"),
        ("code", "ps = raw.process([(\"dark\", dark)])\n"
                 "fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))\n"
                 "axes[0].imshow(dark, cmap=\"gray\"); axes[0].set_title(\"median dark\")\n"
                 "axes[1].imshow(ps[20], cmap=\"magma\"); axes[1].set_title(\"frame 20 - dark\")\n"
                 "plt.show()"),
    ],
    "04-distributed.ipynb": [
        ("md", "# Evaluating on a dask.distributed cluster\n\nThe same graph runs on any "
               "client: here a LocalCluster of two workers (threads, for a quick start; "
               "`processes=True` gives real worker processes). The series pickles as a recipe, "
               "so workers read the frames themselves."),
        ("code", "import pathlib, tempfile\nimport numpy as np\n"
                 "from distributed import Client, LocalCluster\nimport pipeline\n\n"
                 "cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, "
                 "dashboard_address=\":0\")\nclient = Client(cluster)\n"
                 "print(client.dashboard_link)"),
        ("code", "workdir = pathlib.Path(tempfile.mkdtemp())\n"
                 "raw = pipeline.synthetic(32, (128, 128))\n"
                 "ps = raw.process([(\"dark\", raw.metadata[\"dark\"]), (\"flip\", \"r90\")])\n"
                 "stored = pipeline.write(ps, workdir / \"on-cluster.zarr\")  # runs on the client\n"
                 "assert np.array_equal(stored[5], ps[5])\nstored"),
        ("code", "from pipeline import stats\nmx = stats.max(ps)\nmx.max()"),
        ("code", "client.close()\ncluster.close()"),
    ],
}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                             for kind, src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)


if __name__ == "__main__":
    main()
