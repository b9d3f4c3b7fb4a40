# Generates npy/*.npy, small files written by NumPy itself, which
# calibrate/data/npy_test.go parses. Run with Debian's python3-numpy:
#   /usr/bin/python3 gen_npy_fixtures.py
import numpy as np
from numpy.lib import format as npf

np.save("npy/f4_2x3.npy", np.array([[0, 1.5, -2], [3.25, 1e-3, -0.0]], dtype="<f4"))
np.save("npy/u1_2x2x3.npy", np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20)
np.save("npy/i8_4.npy", np.array([9, 0, 3, 1 << 40], dtype="<i8"))
np.save("npy/i4_3.npy", np.array([7, 2, 0], dtype="<i4"))
np.save("npy/f4_scalar.npy", np.float32(2.5))
np.save("npy/f4_0x3.npy", np.zeros((0, 3), dtype="<f4"))
for version in [(2, 0), (3, 0)]:
    with open("npy/f4_v%d.npy" % version[0], "wb") as f:
        npf.write_array(f, np.array([1, 2, 3], dtype="<f4"), version=version)
np.save("npy/be_f4.npy", np.array([1, 2], dtype=">f4"))
np.save("npy/fortran_f4.npy", np.asfortranarray(np.ones((2, 3), dtype="<f4")))
np.save("npy/u2.npy", np.array([1, 2], dtype="<u2"))
