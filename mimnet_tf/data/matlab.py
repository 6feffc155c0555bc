"""Reading variables from MATLAB .mat files of either kind: v5 (scipy.io) and v7.3 (HDF5, h5py).

FashionGAN's language_original.mat and ind.mat are v5; a copy re-saved with `-v7.3` is HDF5,
where arrays are stored transposed, cell arrays as object references and text as uint16 codes.
`MatFile` hides the difference for the two kinds of variable the readers need: cell arrays of
strings and numeric vectors.
"""
from __future__ import annotations

import numpy as np


class MatFile:
    """A .mat file opened for reading.

    Args:
        path: the .mat file (v5 or v7.3).

    Example:
        >>> mat = MatFile("language_original.mat")
        >>> mat.strings("engJ")[:1]
        ['The lady was wearing a blue long-sleeved blouse.']
    """

    def __init__(self, path: str):
        import h5py

        self.path = path
        self._h5 = None
        self._variables = {}
        if h5py.is_hdf5(path):
            self._h5 = h5py.File(path, "r")
        else:
            import scipy.io

            self._variables = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}

    @property
    def names(self) -> set[str]:
        if self._h5 is not None:
            return {k for k in self._h5.keys() if not k.startswith("#")}
        return set(self._variables)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def _require(self, name: str):
        if name not in self.names:
            raise ValueError(f"{self.path} has no variable {name!r}; it has {sorted(self.names)}")
        return self._h5[name] if self._h5 is not None else self._variables[name]

    def numbers(self, name: str) -> np.ndarray:
        """A numeric variable, flattened (vectors are all the readers need)."""
        return np.asarray(self._require(name)).ravel()

    def strings(self, name: str) -> list[str]:
        """A cell array of strings (any shape), as a list in MATLAB's linear order."""
        value = self._require(name)
        if self._h5 is not None:
            # v7.3 stores arrays with their dimensions reversed, so MATLAB's column-major order
            # is the stored array's C order.
            refs = np.asarray(value).ravel()
            return [_h5_string(self._h5[ref]) for ref in refs]
        return [_v5_string(item) for item in np.asarray(value).ravel(order="F")]

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _v5_string(item) -> str:
    """One cell of a scipy-loaded cell array: a str array, a nested cell, char codes, or empty."""
    if isinstance(item, str):
        return item
    array = np.asarray(item)
    if array.size == 0:
        return ""
    if array.dtype == object:
        return " ".join(_v5_string(x) for x in array.ravel())
    if array.dtype.kind == "U":
        return " ".join(str(x) for x in array.ravel())
    return "".join(chr(int(c)) for c in array.ravel())


def _h5_string(dataset) -> str:
    """A v7.3 char array: uint16 codes, or an empty marker."""
    if int(np.asarray(dataset.attrs.get("MATLAB_empty", 0))):
        return ""
    rows = np.atleast_2d(np.asarray(dataset[()]).T)  # back to MATLAB's (rows, characters)
    return " ".join("".join(chr(int(c)) for c in row).rstrip() for row in rows)
